/** vzctl start: mount, cgroups, then the native helper spawns init and stays as the monitor. */
import fs from 'node:fs';
import type { Context } from '../context.js';
import { withLock } from '../lock.js';
import { withRevert } from '../reverter.js';
import { VzError } from '../../base/errors.js';
import { requireContainer } from '../resolve.js';
import { probeRuntime } from '../runtime-state.js';
import { cleanupRuntime, hasLeftovers } from '../cleanup.js';
import { startWithHelper } from '../../runtime/spawn.js';
import { helperPath, packageRoot } from '../../base/package-root.js';
import path from 'node:path';
import { writeFileInRoot } from '../../sys/rootwrite.js';
import type { SpawnConfig } from '../../runtime/protocol.js';
import type { StartResult } from '../../runtime/spawn.js';
import { applyIoPrio, applyLimits, prepareDevnodes } from '../apply-limits.js';
import { lxcfsBinds } from '../../sys/lxcfs.js';
import { checkDiskLimits, diskParams } from '../disk.js';
import { baseSpawnConfig } from '../spawn-config.js';
import { featureOn } from '../../config/features.js';
import { criuNestedKinds, criuRestoresPsi } from '../../criu/criu.js';
import { capDropList } from '../../config/caps.js';
import { crashPoint } from '../../base/inject.js';
import { prepareNetStart } from '../apply-net.js';
import { resumeLocked } from './resume.js';
import { discardDump } from './suspend.js';
import { letThrough } from '../reach.js';
import { readStored } from '../stored.js';

export interface StartOptions {
  /** A suspended container boots from its files instead, and its saved state is thrown away. */
  skipResume?: boolean;
}

/** vzctl start; a suspended container is resumed from its dump (as Virtuozzo and Proxmox do). */
export async function startContainer(ctx: Context, ctid: number, opts: StartOptions = {}): Promise<StartResult> {
  return withLock(ctx, ctid, async () => {
    const row = requireContainer(ctx, ctid);
    if (row.state === 'suspended' && !probeRuntime(ctx.paths(ctid)).running) {
      if (opts.skipResume) {
        discardDump(ctx, ctid);
      } else {
        ctx.progress('Container is suspended: resuming it from its dump');
        try {
          return await resumeLocked(ctx, ctid);
        } catch (e) {
          if (e instanceof VzError && e.code === 'RESTORE') {
            throw new VzError('RESTORE', e.message, { ctid, cause: e, hint: `the dump is kept; vzctl start ${ctid} --skip-resume boots from the files instead and discards it` });
          }
          throw e;
        }
      }
    }
    return startLocked(ctx, ctid);
  }, { wants: 'running' });
}

export async function startLocked(ctx: Context, ctid: number): Promise<StartResult> {
  const row = requireContainer(ctx, ctid);
  const db = ctx.db();
  const p = ctx.paths(ctid);
  if (probeRuntime(p).running) throw new VzError('RUNNING', 'container is already running', { ctid });
  const storage = ctx.storage(ctid);
  const t = ctx.target(ctid);
  if (!storage.exists(t)) throw new VzError('NO_PRIVATE', `private area ${t.privatePath} does not exist`, { ctid });
  const wasMounted = storage.isMounted(t);
  if (hasLeftovers(ctx, ctid)) cleanupRuntime(ctx, ctid, { unmount: false }); // a crashed run

  const { params, internal } = readStored(db, ctid);
  // A file system remounted without quotas would let the container run unlimited: refuse.
  checkDiskLimits(ctx, storage, t, diskParams(params), {}, 'start');
  const init = internal.init ?? ['/sbin/init'];
  const hostname = params.hostname ?? `ct${ctid}`;
  ctx.progress('Starting container...');
  return withRevert(async (undo) => {
    db.setState(ctid, 'starting', 'start');
    undo.add('record the container as stopped', () => db.setState(ctid, 'stopped', 'start failed'));
    if (!wasMounted) {
      storage.mount(t);
      undo.add('unmount the private area', () => storage.unmount(t));
      ctx.progress('Container is mounted');
    }
    try {
      writeFileInRoot(t.mountPath, 'etc/hostname', `${hostname}\n`, { uid: row.uidBase, gid: row.uidBase });
    } catch (e) {
      // The container's own file (a dangling link it planted, a FIFO...): its business, not a reason
      // not to start; the UTS hostname is set by the helper anyway.
      ctx.warn(`CT ${ctid}: /etc/hostname not written: ${(e as Error).message}`);
    }
    const cg = ctx.cgroup(ctid);
    cg.create();
    undo.add('remove the cgroups', () => cg.destroy());
    applyLimits(ctx, ctid, params, true); // before init exists: nothing runs unlimited, even briefly
    cg.delegate(row.uidBase, row.uidBase);
    for (const f of [p.statusfile, p.socket, p.pidfile]) fs.rmSync(f, { force: true });
    undo.add('remove run files', () => {
      for (const f of [p.pidfile, p.socket]) fs.rmSync(f, { force: true });
    });
    // Addresses reserved, checks done and guest files written before anything runs.
    const net = prepareNetStart(ctx, ctid, params, t.mountPath, { uid: row.uidBase, gid: row.uidBase }, undo);
    const binds = lxcfsBinds();
    if (binds.length === 0) {
      ctx.warn(`CT ${ctid}: LXCFS is not available: /proc/meminfo, cpuinfo, uptime... inside show the host's figures`);
    }
    // Its root uid must pass ROOT/root to bind its root file system; no other host user may.
    letThrough(ctx.cfg.paths.mounts, row.uidBase, ctx.warn);
    const memcg = cg.memoryDir();
    const devnodes = params.devnodes ?? {};
    const devnodeDir = prepareDevnodes(ctx, ctid, devnodes, row.uidBase);
    undo.add('remove the device nodes', () => fs.rmSync(devnodeDir, { recursive: true, force: true }));
    const config: SpawnConfig = {
      ...baseSpawnConfig(ctx, row, t, cg, {
        hostname,
        init,
        env: ['container=vzkit', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=linux', 'HOME=/root'],
        wasMounted,
        poststop: net.poststop,
      }),
      // LXCFS: /proc/meminfo, cpuinfo, stat, uptime, loadavg... show the container's own figures.
      bind_src: binds.map(([src]) => src),
      bind_dst: binds.map(([, dst]) => dst),
      devnodes: Object.keys(devnodes),
      // sysinfo(2) (BusyBox free, ...) answered from the memory cgroup by the monitor; only
      // together with LXCFS's /proc/meminfo, which those tools combine it with.
      ...(ctx.cfg.sysinfo_intercept && memcg && binds.some(([, d]) => d === '/proc/meminfo') ? { sysinfo_memcg: memcg, sysinfo_cgver: cg.version } : {}),
      ...(memcg ? { loadavg_file: p.loadavg } : {}),
      devnode_dir: devnodeDir,
      // Half the RAM limit, in whole pages (tmpfs rounds up anyway); the memory cgroup bounds it as well.
      ...(typeof params.ram === 'number' ? { shm_size: String(Math.max(1, Math.floor(params.ram / 2 / 4096)) * 4096) } : {}),
      ...(internal.init_type === 'systemd' ? { cgroup_mount: 'cgroup2' as const } : {}),
      // systemd's memory-pressure watch (on its cgroups' memory.pressure): on where this node's
      // CRIU sets PSI triggers again at restore (patch 0015), else /proc/pressure stays hidden.
      ...(internal.init_type === 'systemd' && criuRestoresPsi(ctx.cfg.paths.run) ? { pressure: true } : {}),
      cap_drop: capDropList(params.capability).map(String),
      // Without nesting, the kinds this node's CRIU dumps nested stay allowed (native/harden.h).
      ...(featureOn(params.features, 'nesting') ? { nesting: true } : { ns_allow: criuNestedKinds(ctx.cfg.paths.run) }),
      // `reboot` inside: the monitor starts the container again through vzctl (same env).
      on_reboot: [process.execPath, path.join(packageRoot(), 'dist', 'vzctl'), 'start', String(ctid)],
    };
    const res = await startWithHelper({
      helper: helperPath(),
      config,
      monitorLog: p.monitorLog,
      ctid,
      joinCgroups: (pid) => cg.addProcess(pid),
      beforeGo: (pid) => net.up(pid),
    });
    crashPoint('start: init runs under its monitor');
    if (typeof params.ioprio === 'number') applyIoPrio(ctx, ctid, params.ioprio);
    db.setState(ctid, 'running', 'start');
    ctx.progress('Container start in progress...');
    return res;
  });
}
