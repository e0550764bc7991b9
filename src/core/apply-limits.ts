/**
 * Applying a container's resource parameters: cgroup limits at start and live on `set`, and the
 * I/O priority of its tasks. A change the kernel refuses is undone, so the running container
 * keeps its old limits and the stored config keeps the old values.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from './context.js';
import { VzError } from '../base/errors.js';
import { limitsFromParams, expandCpuList, devnodeBlocked, forbiddenDevName, type HostInfo } from '../config/limits.js';
import type { CtParams, ParamValues } from '../config/params.js';
import { errnoError } from '../sys/libc.js';
import { setBestEffortIoPrio } from '../sys/ioprio.js';
import { childProcess } from '../sys/childproc.js';
import { devNumbers } from '../sys/mounts.js';
import type { DeviceRule } from '../cgroup/types.js';
import { DEFAULT_DEVICE_RULES } from '../cgroup/v1/devices.js';

export function hostInfo(privatePath?: string): HostInfo {
  const online = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  return { onlineCpus: expandCpuList(online), storageDevice: privatePath ? storageDevice(privatePath) : undefined };
}

/** The whole disk under a path (throttling rules take disks, not partitions). */
export function storageDevice(p: string): { major: number; minor: number } | undefined {
  let { major, minor } = devNumbers(fs.statSync(p, { bigint: true }).dev);
  const sys = `/sys/dev/block/${major}:${minor}`;
  if (!fs.existsSync(sys)) return undefined; // tmpfs, overlay...: no block device to throttle
  if (fs.existsSync(`${sys}/partition`)) {
    const parent = fs.readFileSync(`${fs.realpathSync(sys)}/../dev`, 'utf8').trim().split(':').map(Number);
    [major, minor] = [parent[0]!, parent[1]!];
  }
  return { major, minor };
}

/** Applies the full set of limits derived from `params` to the container's cgroups. */
export function applyLimits(ctx: Context, ctid: number, params: ParamValues, withDevices = false): void {
  const host = hostInfo(ctx.paths(ctid).private);
  const limits = limitsFromParams(params, host);
  // io.max and blkio name a block device: without one under the private area (overlay, 9p,
  // tmpfs) there is nothing to limit, which is said rather than passed over.
  const io = (['iolimit', 'iopslimit'] as const).filter((k) => (params[k] ?? 0) > 0);
  if (io.length && !host.storageDevice) {
    ctx.warn(`CT ${ctid}: ${io.join(' and ')} not applied: the private area ${ctx.paths(ctid).private} is on no block device of its own (e.g. overlay, 9p, tmpfs)`);
  }
  // The full device list only at start: rewriting it ("deny all" first) under running tasks
  // would briefly cut them off their devices. Live changes go through applyDevicesLive.
  if (withDevices) limits.devices = deviceRules(ctid, params);
  ctx.cgroup(ctid).apply(limits);
}

/**
 * Live devnodes change. v1: allow what was added, deny what was removed, nothing else touched.
 * v2: the BPF program is replaced atomically, so it gets the whole new policy.
 */
export function applyDevicesLive(ctx: Context, ctid: number, before: Record<string, string>, after: Record<string, string>): void {
  const cg = ctx.cgroup(ctid);
  if (cg.version === 2) {
    cg.apply({ devices: deviceRules(ctid, { devnodes: after }) });
    return;
  }
  const removed = Object.keys(before).filter((k) => !(k in after) || after[k] !== before[k]);
  const rules: DeviceRule[] = [
    ...devnodeRules(Object.fromEntries(removed.map((k) => [k, 'rwm'])), ctid).map((r) => ({ ...r, allow: false })),
    ...devnodeRules(after, ctid),
  ];
  cg.apply({ devices: rules });
}

/**
 * Live change: checks what the kernel would accept silently but the user would not want
 * (numproc below the current count), applies, and restores the old limits on failure.
 */
export function applyLimitsLive(ctx: Context, ctid: number, stored: CtParams, changed: ParamValues): void {
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

/** Sets the best-effort I/O priority level of every task of the container (children inherit it). */
export function applyIoPrio(ctx: Context, ctid: number, level: number): void {
  for (const pid of ctx.cgroup(ctid).pids()) {
    const errno = setBestEffortIoPrio(pid, level);
    if (errno && errno !== 3 /* ESRCH: exited meanwhile */) throw errnoError('ioprio_set', errno);
  }
}

/** Device-cgroup rules for devnodes, from the host's nodes (which must exist). */
export function devnodeRules(devnodes: Record<string, string>, ctid?: number): DeviceRule[] {
  return Object.entries(devnodes).map(([name, perm]) => {
    let st: fs.Stats;
    let real: string;
    try {
      st = fs.statSync(`/dev/${name}`);
      real = fs.realpathSync(`/dev/${name}`);
    } catch {
      throw new VzError('INVALID', `devnodes: /dev/${name} does not exist on this host`, { ctid });
    }
    // A link out of /dev (stdin -> /proc/self/fd/0, core -> /proc/kcore) is not a device of the host's /dev.
    if (!real.startsWith('/dev/')) throw new VzError('INVALID', `devnodes: /dev/${name} leads to ${real}, outside /dev`, { ctid });
    if (!st.isCharacterDevice() && !st.isBlockDevice()) throw new VzError('INVALID', `devnodes: /dev/${name} is not a device node`, { ctid });
    const { major, minor } = devNumbers(st.rdev);
    const why = devnodeBlocked(st.isCharacterDevice() ? 'c' : 'b', major, minor) ?? forbiddenDevName(real.slice('/dev/'.length));
    if (why) {
      throw new VzError('INVALID', `devnodes: /dev/${name} (${st.isCharacterDevice() ? 'c' : 'b'} ${major}:${minor}) is ${why}`, {
        ctid,
        hint: 'terminals, consoles, memory, input and other host-wide devices cannot be given to a container',
      });
    }
    return {
      allow: true,
      type: st.isCharacterDevice() ? 'c' : 'b',
      major,
      minor,
      access: perm,
    } satisfies DeviceRule;
  });
}

/** The container's whole device policy: the default allow-list plus its devnodes. */
export function deviceRules(ctid: number, params: ParamValues): DeviceRule[] {
  return [...DEFAULT_DEVICE_RULES, ...devnodeRules(params.devnodes ?? {}, ctid)];
}

/**
 * Private copies of the devnodes' host nodes, owned by the container's root, in
 * root/dev/CTID (a host file system, so the nodes can be opened; the container's own /dev
 * is a tmpfs of its user namespace, where the kernel refuses to open device nodes). ctspawn
 * bind-mounts them into the container's /dev. The host's own /dev is never changed.
 */
export function prepareDevnodes(ctx: Context, ctid: number, devnodes: Record<string, string>, uid: number): string {
  const dir = ctx.paths(ctid).devnodes;
  fs.rmSync(dir, { recursive: true, force: true });
  // ROOT/dev passable (0711); ROOT/dev/CTID the container root uid's alone (0700): it must reach
  // the nodes to bind them, and no other host user may reach them at all.
  fs.mkdirSync(path.dirname(dir), { mode: 0o711, recursive: true });
  fs.chmodSync(path.dirname(dir), 0o711);
  const mkdir = (d: string) => {
    if (fs.existsSync(d)) return;
    fs.mkdirSync(d, { mode: 0o700 });
    fs.chownSync(d, uid, uid);
    fs.chmodSync(d, 0o700);
  };
  mkdir(dir);
  const rules = devnodeRules(devnodes, ctid);
  Object.keys(devnodes).forEach((name, i) => {
    const r = rules[i]!;
    const file = `${dir}/${name}`;
    // net/tun: its directories, one by one, each the container's and 0700.
    const parts = name.split('/').slice(0, -1);
    parts.forEach((_, j) => mkdir(`${dir}/${parts.slice(0, j + 1).join('/')}`));
    const perm = devnodes[name]!;
    const mode = (perm.includes('r') ? 0o400 : 0) | (perm.includes('w') ? 0o200 : 0);
    const res = childProcess().spawnSync('mknod', ['-m', mode.toString(8), file, r.type, String(r.major), String(r.minor)], { encoding: 'utf8' });
    if (res.status !== 0) throw new VzError('SYSTEM', `devnodes: cannot make ${file}: ${res.stderr.trim()}`, { ctid });
    fs.chownSync(file, uid, uid);
  });
  return dir;
}
