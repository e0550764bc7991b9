/**
 * Applying a container's resource parameters: cgroup limits at start and live on `set`, and the
 * I/O priority of its tasks. A change the kernel refuses is undone, so the running container
 * keeps its old limits and the stored config keeps the old values.
 */
import fs from 'node:fs';
import type { Context } from './context.js';
import { VzError } from './errors.js';
import { LIMIT_KEYS, limitsFromParams, expandCpuList, type HostInfo } from '../config/limits.js';
import { getLibc, errnoError } from '../sys/libc.js';

export function hostInfo(privatePath?: string): HostInfo {
  const online = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  return { onlineCpus: expandCpuList(online), storageDevice: privatePath ? storageDevice(privatePath) : undefined };
}

/** The whole disk under a path (throttling rules take disks, not partitions). */
export function storageDevice(p: string): { major: number; minor: number } | undefined {
  const dev = fs.statSync(p).dev;
  let major = Math.floor(dev / 256) & 0xfff;
  let minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  const sys = `/sys/dev/block/${major}:${minor}`;
  if (!fs.existsSync(sys)) return undefined; // tmpfs, overlay...: no block device to throttle
  if (fs.existsSync(`${sys}/partition`)) {
    const parent = fs.readFileSync(`${fs.realpathSync(sys)}/../dev`, 'utf8').trim().split(':').map(Number);
    [major, minor] = [parent[0]!, parent[1]!];
  }
  return { major, minor };
}

export function hasLimitKeys(params: Record<string, unknown>): boolean {
  return LIMIT_KEYS.some((k) => k in params);
}

/** Applies the full set of limits derived from `params` to the container's cgroups. */
export function applyLimits(ctx: Context, ctid: number, params: Record<string, unknown>): void {
  const host = hostInfo(ctx.paths(ctid).private);
  ctx.cgroup(ctid).apply(limitsFromParams(params, host));
}

/**
 * Live change: checks what the kernel would accept silently but the user would not want
 * (numproc below the current count), applies, and restores the old limits on failure.
 */
export function applyLimitsLive(ctx: Context, ctid: number, stored: Record<string, unknown>, changed: Record<string, unknown>): void {
  const cg = ctx.cgroup(ctid);
  const next = { ...stored, ...changed };
  if (typeof changed.numproc === 'number') {
    const current = cg.stats().pidsCurrent;
    if (changed.numproc < current) {
      throw new VzError('INVALID', `numproc ${changed.numproc} is below the ${current} tasks running now`, { ctid });
    }
  }
  try {
    applyLimits(ctx, ctid, next);
  } catch (e) {
    try {
      applyLimits(ctx, ctid, stored);
    } catch {
      // the original error is the one to report
    }
    throw e instanceof VzError ? new VzError(e.code, e.message, { ctid, hint: 'the old limits are still in force' }) : e;
  }
}

const SYS_ioprio_set = 251;
const IOPRIO_WHO_PROCESS = 1;
const IOPRIO_CLASS_BE = 2;

/** Sets the best-effort I/O priority level of every task of the container (children inherit it). */
export function applyIoPrio(ctx: Context, ctid: number, level: number): void {
  const libc = getLibc();
  for (const pid of ctx.cgroup(ctid).pids()) {
    const r = Number(libc.syscall(SYS_ioprio_set, 'int', IOPRIO_WHO_PROCESS, 'int', pid, 'int', (IOPRIO_CLASS_BE << 13) | level));
    if (r < 0 && libc.errno() !== 3 /* ESRCH: exited meanwhile */) throw errnoError('ioprio_set', libc.errno());
  }
}
