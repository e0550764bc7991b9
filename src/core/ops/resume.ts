/**
 * vzctl resume (restore): brings a suspended container back from its dump. Everything around
 * CRIU is a start's (mount, cgroups with their limits, device nodes, the network plan, the
 * monitor); `ctspawn restore` runs criu itself so the restored init is the monitor's child.
 * A failed restore undoes all of it and leaves the dump as it was, to be tried again.
 */
import { baseSpawnConfig } from '../spawn-config.js';
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../context.js';
import { withLock } from '../lock.js';
import { withRevert } from '../reverter.js';
import { VzError } from '../../base/errors.js';
import { requireContainer } from '../resolve.js';
import { probeRuntime } from '../runtime-state.js';
import { cleanupRuntime, hasLeftovers } from '../cleanup.js';
import { startWithHelper, type StartResult } from '../../runtime/spawn.js';
import { helperPath } from '../../base/package-root.js';
import type { SpawnConfig } from '../../runtime/protocol.js';
import { applyIoPrio, applyLimits, prepareDevnodes } from '../apply-limits.js';
import { lxcfsBinds } from '../../sys/lxcfs.js';
import { prepareNetRestore } from '../apply-net.js';
import { criuLogTail, criuPath, criuRestoresListeners, giveDumpTo, readMeta, recreateCgroupTree, restoreArgs, validCgroupPath, writeControllersHook } from '../../criu/criu.js';
import { dumpDirOf, dumpRecord } from './suspend.js';
import { letThrough } from '../reach.js';
import { readStored } from '../stored.js';

export interface ResumeOptions {
  dumpDir?: string;
  /** Keep the dump after a successful restore (default: removed). */
  keepDump?: boolean;
  /** A private area mounted now was mounted for this restore: unmount it on failure and at stop. */
  adoptMount?: boolean;
}

export async function resumeContainer(ctx: Context, ctid: number, opts: ResumeOptions = {}): Promise<StartResult> {
  return withLock(ctx, ctid, () => {
    const row = requireContainer(ctx, ctid);
    // Without --dumpfile, only what suspend saved: not a dump left from some earlier state.
    if (!opts.dumpDir && row.state !== 'suspended' && !probeRuntime(ctx.paths(ctid)).running) {
      throw new VzError('RESTORE', 'container is not suspended', { ctid, hint: 'give --dumpfile DIR to restore from a dump made elsewhere' });
    }
    return resumeLocked(ctx, ctid, opts);
  });
}

export async function resumeLocked(ctx: Context, ctid: number, opts: ResumeOptions = {}): Promise<StartResult> {
  const row = requireContainer(ctx, ctid);
  const db = ctx.db();
  const p = ctx.paths(ctid);
  if (probeRuntime(p).running) throw new VzError('RUNNING', 'container is already running', { ctid });
  const dir = path.resolve(opts.dumpDir ?? dumpDirOf(ctx, ctid));
  const meta = readMeta(dir);
  const criu = criuPath();
  // Before anything runs: once criu has, the tasks run and the dump may be stale.
  if (meta.sysinfo === true && !criuRestoresListeners(criu)) {
    throw new VzError('RESTORE', `the dump intercepts sysinfo(2) and ${criu} cannot give its seccomp listeners back (sysinfo would fail with ENOSYS)`, {
      ctid,
      hint: "install vzkit's CRIU (sh scripts/criu.sh)",
    });
  }
  const storage = ctx.storage(ctid);
  const t = ctx.target(ctid);
  if (!storage.exists(t)) throw new VzError('NO_PRIVATE', `private area ${t.privatePath} does not exist`, { ctid });
  // adoptMount: the private area was mounted for this restore (an incoming migration's image):
  // it is treated as mounted here, so the container's stop and a failed restore unmount it.
  const wasMounted = storage.isMounted(t) && !opts.adoptMount;
  if (hasLeftovers(ctx, ctid)) cleanupRuntime(ctx, ctid, { unmount: false });
  const { params } = readStored(db, ctid);
  const prevState = row.state;
  ctx.progress('Restoring container ...');
  return withRevert(async (undo) => {
    db.setState(ctid, 'starting', 'resume');
    undo.add('record the state before', () => db.setState(ctid, prevState === 'suspended' ? 'suspended' : 'stopped', 'resume failed'));
    if (!wasMounted) {
      storage.mount(t);
      undo.add('unmount the private area', () => storage.unmount(t));
    }
    giveDumpTo(dir, row.uidBase);
    // The restored tasks pass the dump's parent and ROOT/root as the container's root uid.
    if (path.dirname(dir) === path.resolve(ctx.cfg.paths.dumps)) letThrough(path.dirname(dir), row.uidBase, ctx.warn);
    else fs.chmodSync(path.dirname(dir), fs.statSync(path.dirname(dir)).mode | 0o111); // an admin's --dumpdir
    letThrough(ctx.cfg.paths.mounts, row.uidBase, ctx.warn);
    const cg = ctx.cgroup(ctid);
    cg.create();
    undo.add('remove the cgroups', () => cg.destroy());
    applyLimits(ctx, ctid, params, true);
    cg.delegate(row.uidBase, row.uidBase);
    // systemd's cgroup tree as it was (empty slices too), its root's to manage, before criu:
    // the restored inotify watches on cgroup.events need their files, and CRIU (soft) would
    // make the missing ones host root's. The undo above (destroy) removes them with the rest.
    const unified = cg.unifiedDir();
    if (unified && meta.cgroups?.length) recreateCgroupTree(unified, meta.cgroups, row.uidBase);
    // v2, controllers the container's systemd enabled for its slices: enabled again during the
    // restore (writeControllersHook says when and why); criu itself starts in a leaf of its own,
    // since the container's cgroup then holds no task, and CRIU moves each task to its cgroup.
    const ctlHook =
      cg.version === 2 && unified && meta.cgroups?.length ? writeControllersHook(path.join(ctx.cfg.paths.run, `${ctid}.criu-cgroup-hook`), unified, meta.cgroups, meta.cgroupControllers ?? {}) : undefined;
    if (ctlHook) undo.add('remove the cgroup hook', () => fs.rmSync(ctlHook, { force: true }));
    const leaf = ctlHook ? '.vzkit-restore' : undefined;
    for (const f of [p.statusfile, p.socket, p.pidfile]) fs.rmSync(f, { force: true });
    undo.add('remove run files', () => {
      for (const f of [p.pidfile, p.socket]) fs.rmSync(f, { force: true });
    });
    // sysinfo(2) as the container had it, whatever this node's config says: the dump's tasks
    // carry the monitor's filter, whose listeners the restore takes back (criu-patches/0002).
    // A dump of an older vzkit says nothing: those were all made without interception.
    const memcg = cg.memoryDir();
    const sysinfo = meta.sysinfo === true;
    if (sysinfo && !memcg) {
      throw new VzError('RESTORE', 'the dump intercepts sysinfo(2) but this node has no memory cgroup for the container to answer it from', { ctid });
    }
    const net = prepareNetRestore(ctx, ctid, params, undo);
    const devnodes = params.devnodes ?? {};
    const devnodeDir = prepareDevnodes(ctx, ctid, devnodes, row.uidBase);
    undo.add('remove the device nodes', () => fs.rmSync(devnodeDir, { recursive: true, force: true }));
    // The external mounts of the dump, from this node's files.
    const sources = new Map<string, string>();
    for (const [src, dst] of lxcfsBinds()) sources.set(dst, src);
    for (const m of meta.mounts) {
      // cgroup2 (/sys/fs/cgroup inside): this node's container cgroup, where the dump had the source's.
      if (m.cgroup !== undefined && unified) {
        if (typeof m.cgroup !== 'string' || !validCgroupPath(m.cgroup)) throw new VzError('RESTORE', `the dump's cgroup mount ${m.dst} has a bad path`, { ctid });
        sources.set(m.dst, m.cgroup ? path.join(unified, m.cgroup) : unified);
      }
      const name = m.dst.slice('/dev/'.length);
      if (m.dst.startsWith('/dev/') && m.key !== 'console') sources.set(m.dst, name in devnodes ? path.join(devnodeDir, name) : m.dst);
    }
    const config: SpawnConfig = {
      ...baseSpawnConfig(ctx, row, t, cg, {
        hostname: params.hostname ?? `ct${ctid}`,
        init: ['/sbin/init'], // not executed: criu brings init back
        env: [],
        wasMounted,
        poststop: net.poststop,
      }),
      ...(sysinfo && memcg ? { sysinfo_memcg: memcg, sysinfo_cgver: cg.version } : {}),
      ...(memcg ? { loadavg_file: p.loadavg } : {}),
      criu,
      // --cgroup-root: this node's container cgroup (the same path in every hierarchy); without
      // it the tasks would go back into the dumping node's cgroups.
      criu_args: [...restoreArgs(dir, t.mountPath, meta.mounts, sources, net.hook, `/${ctx.cfg.node}/${ctid}`), ...(ctlHook ? ['--action-script', ctlHook] : [])],
      console_key: meta.consoleKey,
    };
    let res: StartResult;
    try {
      res = await startWithHelper({
        helper: helperPath(),
        subcommand: 'restore',
        config,
        monitorLog: p.monitorLog,
        ctid,
        joinCgroups: (pid) => (leaf ? cg.addProcessBelow(pid, leaf) : cg.addProcess(pid)),
        timeoutMs: 120_000,
      });
      if (leaf) cg.removeBelow(leaf); // empty now: criu has ended, its tasks are in their cgroups
      if (ctlHook) fs.rmSync(ctlHook, { force: true });
    } catch (e) {
      const tail = criuLogTail(path.join(dir, 'restore.log'));
      // The dump may be gone by the time someone looks (a migration undone): keep its log.
      fs.copyFileSync(path.join(dir, 'restore.log'), path.join(path.dirname(p.monitorLog), `${ctid}.restore.log`));
      throw new VzError('RESTORE', `restore failed: ${(e as Error).message}${tail ? ` (criu: ${tail})` : ''}`, { ctid, cause: e });
    }
    net.finish(res.initPid);
    if (typeof params.ioprio === 'number') applyIoPrio(ctx, ctid, params.ioprio);
    db.setState(ctid, 'running', 'resume');
    if (!opts.keepDump) fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(dumpRecord(ctx, ctid), { force: true });
    ctx.progress('Container is running');
    return res;
  });
}
