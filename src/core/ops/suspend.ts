/**
 * vzctl suspend (chkpnt): `criu dump` of the running container into a dump directory, which
 * stops it; the monitor then sees init end and tears down the host side as after any stop.
 * A failed dump leaves the container running (CRIU resumes the tasks it froze).
 */
import { crashPoint } from '../crash.js';
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../context.js';
import { withLock } from '../lock.js';
import { VzError } from '../errors.js';
import { requireContainer } from '../resolve.js';
import { probeRuntime } from '../runtime-state.js';
import { cleanupRuntime } from '../cleanup.js';
import { pidAlive } from '../../sys/proc.js';
import { sleepMs } from '../../sys/sleep.js';
import { consoleKey, criuPath, externalMounts, runDump, writeMeta, type DumpOptions } from '../../../migrate/criu.js';
import { checkCheckpointable, type CheckResult } from '../../../migrate/precheck.js';

export interface SuspendOptions {
  dumpDir?: string;
  /** Migration: stream the pages to a page server instead of the dump directory. */
  pageServer?: DumpOptions['pageServer'];
  /** Keep the private area mounted afterwards (migration syncs it once more). */
  keepMounted?: boolean;
}

/** Where a container's dump lives: the one recorded by suspend, else the node's default. */
export function dumpDirOf(ctx: Context, ctid: number): string {
  try {
    return fs.readFileSync(dumpRecord(ctx, ctid), 'utf8').trim();
  } catch {
    return path.join(ctx.cfg.paths.dumps, String(ctid));
  }
}

export function dumpRecord(ctx: Context, ctid: number): string {
  return path.join(ctx.cfg.paths.dumps, `${ctid}.where`);
}

/** Throws away a container's saved state: its dump (wherever suspend put it) and the record. */
export function discardDump(ctx: Context, ctid: number): void {
  fs.rmSync(dumpDirOf(ctx, ctid), { recursive: true, force: true });
  fs.rmSync(dumpRecord(ctx, ctid), { force: true });
}

/**
 * vzctl suspend --check: can it be checkpointed right now, and if not, which tasks stop it
 * (migrate/precheck.ts). The container runs on either way.
 */
export async function checkSuspend(ctx: Context, ctid: number): Promise<CheckResult> {
  return withLock(ctx, ctid, () => {
    requireContainer(ctx, ctid);
    const probe = probeRuntime(ctx.paths(ctid));
    if (!probe.running) throw new VzError('NOT_RUNNING', 'unable to check: container is not running', { ctid });
    return checkCheckpointable(criuPath(), { ctid, initPid: probe.initPid!, cgroupPids: ctx.cgroup(ctid).pids(), sysinfoListener: fs.existsSync(`${ctx.paths(ctid).socket}.ctl`) });
  });
}

export async function suspendContainer(ctx: Context, ctid: number, opts: SuspendOptions = {}): Promise<string> {
  return withLock(ctx, ctid, () => suspendLocked(ctx, ctid, opts));
}

export async function suspendLocked(ctx: Context, ctid: number, opts: SuspendOptions = {}): Promise<string> {
  requireContainer(ctx, ctid);
  const db = ctx.db();
  const probe = probeRuntime(ctx.paths(ctid));
  if (!probe.running) throw new VzError('NOT_RUNNING', 'unable to suspend: container is not running', { ctid });
  const criu = criuPath();
  // The monitor's "<socket>.ctl" exists exactly when sysinfo(2) is intercepted (protocol.h).
  if (fs.existsSync(`${ctx.paths(ctid).socket}.ctl`)) {
    throw new VzError('CHKPNT', 'cannot checkpoint: sysinfo(2) interception is on for this container (its seccomp listener cannot be restored)', {
      ctid,
      hint: 'set "sysinfo_intercept: false" in the node config (vzkit.yaml) and restart the container',
    });
  }
  const dir = path.resolve(opts.dumpDir ?? path.join(ctx.cfg.paths.dumps, String(ctid)));
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
  // Where the record of a --dumpfile elsewhere goes: it must be writable once the tasks are gone.
  fs.mkdirSync(ctx.cfg.paths.dumps, { recursive: true, mode: 0o700 });
  // A dump directory holds one dump: an old one would mix images.
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { mode: 0o700 });
  ctx.progress('Setting up checkpoint...');
  const initPid = probe.initPid!;
  const mounts = externalMounts(initPid);
  const key = consoleKey(initPid);
  try {
    runDump(criu, { initPid, dir, pageServer: opts.pageServer }, mounts, key, ctid);
  } catch (e) {
    // The container goes on running; the half-written images go.
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  crashPoint('suspend: images written');
  writeMeta(dir, { ctid, node: ctx.cfg.node, criu, consoleKey: key, mounts, initPid, at: new Date().toISOString() });
  fs.writeFileSync(dumpRecord(ctx, ctid), dir + '\n');
  crashPoint('suspend: dump recorded');
  db.setState(ctid, 'suspended', 'suspend');
  crashPoint('suspend: recorded as suspended');
  // The monitor reaps the dumped init and tears down cgroups, network and (unless the mount was
  // the admin's) the mount; wait for it, then make sure nothing is left.
  for (let i = 0; i < 1000 && probe.monitorPid && pidAlive(probe.monitorPid); i++) sleepMs(5);
  cleanupRuntime(ctx, ctid, { unmount: !opts.keepMounted });
  crashPoint('suspend: cleaned up');
  ctx.progress(`Checkpointing completed succesfully (${dir})`);
  return dir;
}
