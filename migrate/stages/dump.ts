/**
 * Stage "freeze and dump" (online): CRIU freezes and dumps the container, its pages streamed to
 * DEST's page server, and leaves the tasks stopped (killed once DEST runs them, thawed by the
 * undo otherwise). The final file sync starts as soon as CRIU has stopped every task (its hook's
 * flag), while the dump runs; from that flag on the time counts as frozen (vzmigrate -t).
 */
import fs from 'node:fs';
import path from 'node:path';
import { probeRuntime } from '../../src/core/runtime-state.js';
import { prepareDump } from '../../src/core/ops/suspend.js';
import { helperPath } from '../../src/base/package-root.js';
import { updateJournal } from '../journal.js';
import type { Stage } from '../stages.js';
import { dumpMadeRemaps, runDumpAsync, thawAfterDump, writeMeta } from '../../src/criu/criu.js';
import { blockersFromLog } from '../../src/criu/precheck.js';
import { bwLimit, syncChanged } from './copy-files.js';
import { NotCheckpointable } from './preflight.js';
import type { Migration } from './migration.js';

/** A CRIU log of our own dump directory, capped (it is read for its error lines only). */
function readSmall(file: string): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(4 << 20);
      return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

export function freezeAndDump(m: Migration): Stage {
  const { ctx, ctid, localDump, criu } = m;
  const initPid = m.initPid();
  const finalSync = () => {
    // A tree copy reads through the page cache: nothing needs to reach the image file first.
    if (!m.tree) m.storage.flush?.(m.t);
    return syncChanged(m, 'the private area (final)', bwLimit());
  };
  return {
    name: 'freeze and dump',
    run: async () => {
      // Inside the dump directory (its files only are sent), so a killed run leaves no other dir.
      const hookDir = path.join(localDump, '.hook');
      fs.mkdirSync(hookDir, { mode: 0o700 });
      // The final file sync starts as soon as CRIU has stopped every task (the hook's flag),
      // while the dump runs: the tree no longer changes from then on. The hook also records
      // the container's cgroup tree then (made again on DEST before its restore).
      const flag = path.join(hookDir, 'stopped');
      const prep = prepareDump(ctx, ctid, initPid, localDump, hookDir, flag);
      const { mounts, key, actionScript } = prep;
      // The frozen time counts from CRIU's freeze, which its hook's flag dates (below); without
      // a flag, from CRIU's start, which is earlier.
      const dumpStart = performance.now();
      m.frozenAt = dumpStart;
      // The tasks stay stopped: killed once DEST runs them, thawed if anything fails.
      m.dumped = true;
      updateJournal(ctx, ctid, { initPid, dumped: true });
      let sync: Promise<void> | undefined;
      const watch = setInterval(() => {
        if (sync || !fs.existsSync(flag)) return;
        // The hook made the flag right after CRIU froze every task: its time is the freeze's (a
        // file time is coarse, up to a tick early, so the frozen time comes out a little long).
        let ago = 0;
        try {
          ago = Math.max(0, Date.now() - fs.statSync(flag).mtimeMs);
        } catch {
          // gone already: the dump ended; the poll's time stands
        }
        m.frozenAt = performance.now() - ago;
        m.frozenSteps.push({ name: 'criu dump started', ms: dumpStart - m.frozenAt });
        m.step('freeze seen here');
        sync = finalSync().then(() => m.step('file sync done'));
        sync.catch(() => {}); // settled below
      }, 5);
      const dump = runDumpAsync(criu, { initPid, dir: localDump, pageServer: { address: '127.0.0.1', port: m.localPort }, leaveStopped: true, actionScript }, mounts, key, ctid);
      const d = await Promise.allSettled([dump]);
      m.step('dump done');
      clearInterval(watch);
      fs.rmSync(hookDir, { recursive: true, force: true });
      // A failed dump's error comes first (the sync then fails too when the line was cut).
      const s = sync ? await Promise.allSettled([sync]) : [];
      if (d[0]!.status === 'rejected') {
        // What stopped CRIU, task by task, when it is something inside (not the line or the disk).
        const inside = blockersFromLog(readSmall(path.join(localDump, 'dump.log')), initPid).filter((b) => b.ns);
        throw inside.length ? new NotCheckpointable(inside) : d[0]!.reason;
      }
      if (s[0]?.status === 'rejected') throw s[0].reason;
      // No flag (no network-lock step), or CRIU linked deleted-but-open files into the tree
      // (link remaps), which must go along: a sync now.
      if (!sync || dumpMadeRemaps(localDump)) await finalSync();
      writeMeta(localDump, prep.meta(criu, prep.cgroups()));
    },
    undo: () => {
      // A failed dump resumed the tasks itself (CRIU); after a good one they are stopped. The
      // tasks are listed now, not before the dump: a child forked in between is stopped too.
      if (m.inDoubt) return ctx.warn(`CT ${ctid}: left stopped (frozen) here: ${m.o.dest} may run it`);
      if (m.dumped && probeRuntime(m.paths).running) thawAfterDump(helperPath(), initPid, ctx.cgroup(ctid).pids());
    },
  };
}
