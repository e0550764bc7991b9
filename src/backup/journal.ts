/**
 * vzdump's journal, run/CTID.vzdump: in stop mode written before a running container is halted
 * (in snapshot mode once it is checkpointed), removed once it runs again. A vzdump that is interrupted (SIGINT, SIGTERM) starts the
 * container itself before it exits; one that is killed (SIGKILL, OOM, power cut) cannot, and
 * the next locked operation on the container (any vzctl verb, the next vzdump, vzd at its
 * start) finds the journal and, under the lock, before its own work:
 *   - removes the dead dump's partial archive, staging copy and manifest dir (and a half-written
 *     .sha256 or .auth);
 *   - a halt still under way (killed while waiting for it): lets it finish, as a stop would;
 *   - starts the container again, as the dump would have.
 * Snapshot mode journals the same way once its checkpoint is taken: the recovery resumes it.
 * Except where the operation itself decides the container's state: `vzctl stop` and `destroy`
 * (wants "stopped") only drop the journal, so a container the admin chose to stop after the
 * killed dump is not started behind their back (the stop then reports it already stopped, exit
 * 31); `vzctl start` and `restart` (wants "running") leave the start to themselves.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../core/context.js';
import { readJournalFile, registerRecovery, removeJournalFile, writeJournalFile, type Wants } from '../core/recovery.js';
import { probeRuntime } from '../core/runtime-state.js';
import { stopLocked } from '../core/ops/stop.js';
import { startLocked } from '../core/ops/start.js';
import { resumeLocked } from '../core/ops/resume.js';
import type { BackupMode } from './manifest.js';

export const DUMP_JOURNAL = 'vzdump';

export interface DumpJournal {
  pid: number;
  mode: BackupMode;
  /** Where its partial files are. */
  dumpdir: string;
  /** The state to bring back: only "running" is journaled (a stopped container is not touched). */
  prior: 'running';
  /** Snapshot mode: checkpointed (suspended) by the dump; a resume brings its processes back. */
  resume?: boolean;
  at: string;
}

export function writeDumpJournal(ctx: Context, ctid: number, j: DumpJournal): void {
  writeJournalFile(ctx, ctid, DUMP_JOURNAL, j);
}

export function removeDumpJournal(ctx: Context, ctid: number): void {
  removeJournalFile(ctx, ctid, DUMP_JOURNAL);
}

/**
 * What a vzdump of this container killed half way left (a partial archive, a staging copy, a
 * manifest dir). The caller holds the container's lock, so nothing of it is in use.
 */
export function removeStaleDumpFiles(ctx: Context, dumpdir: string, ctid: number): void {
  const gone = (dir: string, re: RegExp) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return; // a dump directory removed since: nothing of ours is left in it
    }
    for (const f of names) if (re.test(f)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
  };
  // Names carry the node: nodes that share a dump directory never touch each other's.
  const node = ctx.cfg.node.replace(/[^A-Za-z0-9_-]/g, '\\$&');
  gone(dumpdir, new RegExp(`^(\\.vzdump-${node}-${ctid}-staging-.*|vzdump-${ctid}-.*\\.tar(\\.zst|\\.gz)?\\.${node}\\.tmp)$`));
  // A .sha256 or .auth half written (killed between the archive's rename and theirs).
  gone(dumpdir, new RegExp(`^vzdump-${ctid}-[0-9_-]+\\.tar(\\.zst|\\.gz)?\\.(sha256|auth)\\.${node}\\.tmp$`));
  gone(ctx.cfg.paths.run, new RegExp(`^vzdump-${ctid}-[A-Za-z0-9]{6}$`));
}

/** Brings back the state a killed vzdump --mode stop took away (see above). Under the lock. */
export async function recoverInterruptedDump(ctx: Context, ctid: number, o: { wants?: Wants }): Promise<void> {
  const j = readJournalFile<DumpJournal>(ctx, ctid, DUMP_JOURNAL);
  const row = ctx.db().getContainer(ctid);
  if (!j || !row) {
    removeDumpJournal(ctx, ctid);
    return;
  }
  if (typeof j.dumpdir === 'string' && path.isAbsolute(j.dumpdir)) removeStaleDumpFiles(ctx, j.dumpdir, ctid);
  const p = ctx.paths(ctid);
  let running = probeRuntime(p).running;
  if (j.resume) {
    // Snapshot mode, killed after its checkpoint: the container waits suspended. `vzctl start`
    // resumes a suspended container itself, `stop` and `destroy` leave or discard it.
    if (!running && o.wants === undefined) {
      try {
        await resumeLocked(ctx, ctid, {});
        ctx.warn(`CT ${ctid}: a killed vzdump (pid ${j.pid}) had checkpointed it; it was resumed`);
      } catch (e) {
        // Killed half way through its own resume (the checkpoint is gone or unusable): boot the files.
        try {
          await startLocked(ctx, ctid);
          ctx.warn(`CT ${ctid}: a killed vzdump (pid ${j.pid}) had checkpointed it; resuming failed (${(e as Error).message}), it was started from its files`);
        } catch (e2) {
          ctx.warn(`CT ${ctid}: a killed vzdump (pid ${j.pid}) had checkpointed it; resuming and starting it failed: ${(e2 as Error).message}`);
        }
      }
    }
    removeDumpJournal(ctx, ctid);
    return;
  }
  if (o.wants === 'stopped') {
    // The admin's stop (or destroy) decides: nothing is started. A halt still under way is the stop's to finish.
    if (!running) ctx.warn(`CT ${ctid}: a killed vzdump (pid ${j.pid}) had stopped it; it stays stopped`);
    removeDumpJournal(ctx, ctid);
    return;
  }
  if (running && row.state === 'stopping') {
    // Killed while waiting for the halt: the container is on its way down; see it through, then start it.
    await stopLocked(ctx, ctid, {});
    running = probeRuntime(p).running;
  }
  if (!running && o.wants !== 'running') {
    try {
      await startLocked(ctx, ctid);
      ctx.warn(`CT ${ctid}: a killed vzdump (pid ${j.pid}) had stopped it; it was started again`);
    } catch (e) {
      // Tried once: the journal goes, so a container that cannot start does not block every later operation.
      ctx.warn(`CT ${ctid}: a killed vzdump (pid ${j.pid}) had stopped it; starting it again failed: ${(e as Error).message}`);
    }
  }
  removeDumpJournal(ctx, ctid);
}

registerRecovery({ kind: DUMP_JOURNAL, recover: recoverInterruptedDump });
