/**
 * vzctl suspend (chkpnt): `criu dump` of the running container into a dump directory, which
 * stops it; the monitor then sees init end and tears down the host side as after any stop.
 * A failed dump leaves the container running (CRIU resumes the tasks it froze).
 */
import { crashPoint } from '../../base/inject.js';
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../context.js';
import { withLock } from '../lock.js';
import { VzError } from '../../base/errors.js';
import { requireContainer } from '../resolve.js';
import { probeRuntime } from '../runtime-state.js';
import { cleanupRuntime } from '../cleanup.js';
import { pidAlive } from '../../sys/proc.js';
import { sleepMs } from '../../sys/sleep.js';
import { consoleKey, criuPath, criuRestoresListeners, externalMounts, interceptsSysinfo, readCgroupControllers, readCgroupTree, runDump, walkCgroupTree, writeDumpHook, writeMeta, type DumpOptions, type DumpMeta } from '../../criu/criu.js';
import { featureOn } from '../../config/features.js';
import { checkCheckpointable as trialCheckpoint, type CheckResult } from '../../criu/precheck.js';
import { readStored } from '../stored.js';

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
 * Refuses, before anything is frozen, a running container that cannot be checkpointed by its
 * settings: the sysinfo(2) listener without vzkit's CRIU, or the feature nesting (namespaces inside that CRIU cannot
 * dump). vzctl suspend, vzdump --mode snapshot and vzmigrate --online ask this first.
 */
export function checkCheckpointable(ctx: Context, ctid: number): void {
  // The restore takes the listeners of the tasks' sysinfo filter back, which needs vzkit's CRIU
  // (criu-patches/0002); a stock one would leave sysinfo failing with ENOSYS.
  if (interceptsSysinfo(ctx.paths(ctid).socket) && !criuRestoresListeners(criuPath())) {
    throw new VzError('CHKPNT', `cannot checkpoint: sysinfo(2) is intercepted for this container and ${criuPath()} cannot give its seccomp listener back after a restore`, {
      ctid,
      hint: "install vzkit's CRIU (sh scripts/criu.sh), or set \"sysinfo_intercept: false\" in vzkit.yaml and restart the container",
    });
  }
  if (featureOn(readStored(ctx.db(), ctid).params.features, 'nesting')) {
    throw new VzError('CHKPNT', 'cannot checkpoint: the container has nesting on (--features nesting:on), so it may hold namespaces CRIU cannot dump', {
      ctid,
      hint: 'stop it first (vzmigrate without --online, vzdump --mode stop or suspend), or set --features nesting:off --save and restart it',
    });
  }
}

/**
 * The parts of a dump's description that come from the running container: the console's key,
 * the external mounts, and the action script (criu --action-script) that records its cgroup2
 * tree while the tasks are stopped; cgroups() reads that tree once the dump is done.
 */
export function prepareDump(ctx: Context, ctid: number, initPid: number, dir: string, hookDir: string, flag?: string) {
  const cg = ctx.cgroup(ctid);
  const unified = cg.unifiedDir();
  const mounts = externalMounts(initPid, `/${ctx.cfg.node}/${ctid}`);
  const key = consoleKey(initPid);
  // Refused now, before anything is frozen: a tree vzkit could not make again.
  if (unified) walkCgroupTree(unified);
  const actionScript = writeDumpHook(hookDir, { flag, cgroupDir: unified, treeDir: dir });
  // Recorded in the dump: the restore then takes the sysinfo listeners back (criu-patches/0002).
  const sysinfo = interceptsSysinfo(ctx.paths(ctid).socket);
  return {
    mounts,
    key,
    actionScript,
    /**
     * The tree the hook recorded while the tasks were stopped; else (no network-lock step) walked
     * now. After a good dump, so it never throws: the tasks may be gone already.
     */
    cgroups: (): string[] => {
      const t = readCgroupTree(dir);
      if (t) return t;
      try {
        return unified ? walkCgroupTree(unified) : [];
      } catch {
        return [];
      }
    },
    meta: (criu: string, cgroups: string[]): DumpMeta => ({ ctid, node: ctx.cfg.node, criu, consoleKey: key, mounts, cgroups, cgroupControllers: readCgroupControllers(dir), initPid, at: new Date().toISOString(), sysinfo }),
  };
}

/**
 * vzctl suspend --check: can it be checkpointed right now, and if not, which tasks stop it
 * (src/criu/precheck.ts). The container runs on either way.
 */
export async function checkSuspend(ctx: Context, ctid: number): Promise<CheckResult> {
  return withLock(ctx, ctid, () => {
    requireContainer(ctx, ctid);
    const probe = probeRuntime(ctx.paths(ctid));
    if (!probe.running) throw new VzError('NOT_RUNNING', 'unable to check: container is not running', { ctid });
    // Settings first (one line, as suspend says it), then the trial dump.
    checkCheckpointable(ctx, ctid);
    return trialCheckpoint(criuPath(), { ctid, initPid: probe.initPid!, cgroupPids: ctx.cgroup(ctid).pids(), sysinfoListener: false, cgroupRoot: `/${ctx.cfg.node}/${ctid}` });
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
  checkCheckpointable(ctx, ctid);
  const criu = criuPath();
  const dir = path.resolve(opts.dumpDir ?? path.join(ctx.cfg.paths.dumps, String(ctid)));
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
  // Where the record of a --dumpfile elsewhere goes: it must be writable once the tasks are gone.
  fs.mkdirSync(ctx.cfg.paths.dumps, { recursive: true, mode: 0o700 });
  // A dump directory holds one dump: an old one would mix images.
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { mode: 0o700 });
  ctx.progress('Setting up checkpoint...');
  const initPid = probe.initPid!;
  // The hook lives beside the dump, not in it (a dump directory holds images only).
  const hookDir = fs.mkdtempSync(path.join(ctx.cfg.paths.dumps, `.${ctid}.hook-`));
  let d: ReturnType<typeof prepareDump>;
  try {
    d = prepareDump(ctx, ctid, initPid, dir, hookDir);
    // A failed dump's directory goes; its log stays beside the container's other logs.
    const keepLog = path.join(path.dirname(ctx.paths(ctid).monitorLog), `${ctid}.dump.log`);
    runDump(criu, { initPid, dir, pageServer: opts.pageServer, actionScript: d.actionScript, keepLog }, d.mounts, d.key, ctid);
  } catch (e) {
    // The container goes on running; the half-written images go.
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    fs.rmSync(hookDir, { recursive: true, force: true });
  }
  crashPoint('suspend: images written');
  writeMeta(dir, d.meta(criu, d.cgroups()));
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
