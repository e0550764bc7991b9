/**
 * Stage "preflight": what rules the move out before anything is copied or frozen. Here: the
 * settings that rule a checkpoint out, and what no CRIU gets past, task by task (online). Then
 * the SSH master connection, and DEST's answer to `info` (its room, uid range, addresses, CRIU,
 * CPU). The dry run stops after this stage (online, with a trial dump).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { VzError } from '../../src/base/errors.js';
import { currentAddresses } from '../../src/core/apply-net.js';
import { checkCheckpointable as checkSettings } from '../../src/core/ops/suspend.js';
import { mountViewIn, removeViewDir, shiftMap } from '../../src/sys/idmapmount.js';
import { updateJournal } from '../journal.js';
import type { Stage } from '../stages.js';
import { MigExit, StageFailure } from '../errors.js';
import { hasDirtyTracking, interceptsSysinfo, nestedKindsInUse, pressureFilesInUse } from '../../src/criu/criu.js';
import { certainBlockers, checkCheckpointable, formatBlocker, type Blocker } from '../../src/criu/precheck.js';
import type { Migration } from './migration.js';

/** A pre-flight that found what stops the checkpoint: one line per blocker in the message. */
export class NotCheckpointable extends StageFailure {
  constructor(readonly blockers: Blocker[]) {
    super(MigExit.CHECKPOINT, `the container cannot be checkpointed now (vzmigrate --restart moves it with a restart):\n${blockers.map(formatBlocker).join('\n')}`);
  }
}

/** Bytes of the private area (du), for DEST's disk check. */
function usedBytes(p: string): number {
  const r = spawnSync('du', ['-sb', p], { encoding: 'utf8' });
  return Number((r.stdout ?? '0').split('\t')[0]) || 0;
}

/** Can this node make an idmapped view of this private area (kernel, file system)? Tried once. */
function viewWorks(m: Migration): boolean {
  const { ctx, ctid, row } = m;
  const probe = fs.mkdtempSync(m.viewPrefix);
  updateJournal(ctx, ctid, { tmp: [m.localDump, m.ssh.dir, probe] });
  try {
    mountViewIn(probe, m.copyFrom, shiftMap(row.uidBase, row.uidBase, row.uidSize));
    return true;
  } catch (e) {
    m.notes.push(`no idmapped view of the private area here (${(e as Error).message}): DEST must have the same uid range free`);
    return false;
  } finally {
    removeViewDir(probe);
    updateJournal(ctx, ctid, { tmp: [m.localDump, m.ssh.dir] });
  }
}

export function preflight(m: Migration): Stage {
  const { ctx, ctid, row, online, o, notes, criu, tree } = m;
  return {
    name: 'preflight',
    run: async () => {
      let cpuinfo: string | undefined;
      let nested: string[] = [];
      let psi = false;
      // Settings that rule a checkpoint out (the sysinfo listener without vzkit's CRIU, nesting),
      // then what no CRIU gets past, named task by task, before anything is copied or frozen (the
      // rest is CRIU's to decide: the dry run's trial dump, or the dump itself).
      if (online) {
        try {
          checkSettings(ctx, ctid);
        } catch (e) {
          const v = e as VzError;
          throw new StageFailure(MigExit.CHECKPOINT, `${v.message}${v.hint ? ` (${v.hint}; or migrate offline)` : ''}`);
        }
        const blockers = certainBlockers(m.initPid(), ctx.cgroup(ctid).pids(), m.sysinfoBlocks());
        if (blockers.length) throw new NotCheckpointable(blockers);
      }
      await m.ssh.connect();
      updateJournal(ctx, ctid, { sshPid: m.ssh.masterPid() });
      if (online) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzmigrate-cpu-'));
        try {
          const r = spawnSync(criu, ['cpuinfo', 'dump', '-D', dir], { encoding: 'utf8' });
          if (r.status !== 0) throw new StageFailure(MigExit.UNSUP_CPU, `criu cpuinfo dump: ${r.stderr.trim()}`);
          cpuinfo = fs.readFileSync(path.join(dir, 'cpuinfo.img')).toString('base64');
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
        // Asked of DEST before anything is frozen: its CRIU must restore these too.
        if (m.probe.initPid) nested = nestedKindsInUse(m.probe.initPid, ctx.cgroup(ctid).pids());
        psi = pressureFilesInUse(ctx.cgroup(ctid).pids());
        if (hasDirtyTracking(criu)) notes.push('memory tracking is available, but iterative pre-dumps are not implemented: one final dump');
        else notes.push('no memory tracking (soft-dirty) on this kernel: pre-dumps skipped, one final dump');
        if (tree) notes.push('image layout: its files are copied into an image of the same size made on DEST, so the final sync moves only what changed');
      }
      m.anySlot = online ? (ctx.storage(ctid).caps.tree === true || !!tree) && viewWorks(m) : true;
      const info = m.remote(
        'info',
        { ctid, ips: currentAddresses(ctx, ctid, m.wasRunning, m.params), bytes: usedBytes(m.t.privatePath), uidBase: row.uidBase, uidSize: row.uidSize, online, params: m.params, cpuinfo, reuse: o.keepDst, isDir: m.isDir, anySlot: m.anySlot, nested, psi, sysinfo: online && interceptsSysinfo(m.paths.socket) },
        MigExit.CANT_CONNECT,
      );
      const problems = info.problems;
      if (problems.length) throw new StageFailure(problems[0]!.exit, problems.map((x) => x.msg).join('; '));
      if (online && info.criu === null) throw new StageFailure(MigExit.RESTORE, 'no CRIU on DEST');
      m.destPrivate = info.privatePath;
      m.destDump = info.dumpDir;
      // An older DEST cannot move a dump's user namespace, nor shift inside an image.
      if (info.rebase !== true) m.anySlot = false;
      notes.push(`DEST ${info.node}: vzkit ${info.version}${online ? `, criu ${info.criu as string}` : ''}`);
      if (online && o.dryRun) {
        // The dry run asks CRIU itself (a dump that leaves it running, into tmpfs, thrown away).
        const c = checkCheckpointable(criu, { ctid, initPid: m.initPid(), cgroupPids: ctx.cgroup(ctid).pids(), sysinfoListener: m.sysinfoBlocks(), cgroupRoot: `/${ctx.cfg.node}/${ctid}` });
        if (!c.checkpointable) throw new NotCheckpointable(c.blockers);
        notes.push(`checkpoint check: a trial criu dump succeeded (it took ${Math.round(c.trialMs ?? 0)} ms; the tasks were stopped during part of it)`);
      }
    },
  };
}
