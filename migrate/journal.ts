/**
 * The source side's record of a migration in progress (run/CTID.migrating). A failing
 * vzmigrate undoes its stages itself; one that is killed cannot, so the next locked operation on
 * the container (any vzctl verb, vzmigrate again) reads the record and finishes the source side:
 *   - DEST already runs the container: the stopped tasks here are killed and cleaned up (the
 *     files stay; the admin removes them or migrates back);
 *   - the restore (or start) request went to DEST, and no answer came back: DEST is asked
 *     (resolve.ts). It runs it: as above. It does not: what it holds is taken back and the
 *     tasks here are thawed. No answer: nothing changes here (it stays frozen, never twice),
 *     the record stays, and the next command asks again;
 *   - dumped, not yet restored on DEST: the stopped tasks are thawed (TCP repair off, CRIU's
 *     network lock removed, SIGCONT), so the container runs on here as if nothing had happened,
 *     and what DEST received is taken back when DEST can be reached;
 *   - before the dump: nothing was touched here.
 * A half-received container on DEST is reused or replaced by the next vzmigrate (receive.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../src/core/context.js';
import { cleanupRuntime } from '../src/core/cleanup.js';
import { probeRuntime } from '../src/core/runtime-state.js';
import { helperPath } from '../src/base/package-root.js';
import { pidAlive } from '../src/sys/proc.js';
import { sleepMs } from '../src/sys/sleep.js';
import { registerRecovery, type Wants } from '../src/core/recovery.js';
import { startLocked } from '../src/core/ops/start.js';
import { thawAfterDump } from '../src/criu/criu.js';
import { removeViewDir } from '../src/sys/idmapmount.js';
import { DestUnreachable, destState, dropOnDest, proofProblem, type DestTarget } from './resolve.js';

export interface MigJournal {
  pid: number;
  dest: string;
  initPid?: number;
  dumped?: boolean;
  restored?: boolean;
  /** The restore (online) or start (restart mode) request went to DEST. */
  requestSent?: boolean;
  /** Restart mode: DEST started it. */
  started?: boolean;
  /** Restart mode: it was stopped here for the final sync. */
  restartStopped?: boolean;
  /** vzmigrate ended without learning whether DEST runs it. */
  inDoubt?: boolean;
  /** To ask DEST again: its ssh options and remote vzmigrate. */
  sshOpts?: string[];
  remote?: string;
  keepDst?: boolean;
  /** Its temporary directories (local dump, SSH control socket, idmapped view) and its SSH master's pid. */
  tmp?: string[];
  sshPid?: number;
  control?: string;
}

export function journalPath(ctx: Context, ctid: number): string {
  return path.join(ctx.cfg.paths.run, `${ctid}.migrating`);
}

export function writeJournal(ctx: Context, ctid: number, j: MigJournal): void {
  const p = journalPath(ctx, ctid);
  fs.writeFileSync(`${p}.tmp`, JSON.stringify(j));
  fs.renameSync(`${p}.tmp`, p);
}

export function updateJournal(ctx: Context, ctid: number, patch: Partial<MigJournal>): void {
  const j = readJournal(ctx, ctid);
  if (j) writeJournal(ctx, ctid, { ...j, ...patch });
}

export function removeJournal(ctx: Context, ctid: number): void {
  fs.rmSync(journalPath(ctx, ctid), { force: true });
}

function readJournal(ctx: Context, ctid: number): MigJournal | undefined {
  try {
    return JSON.parse(fs.readFileSync(journalPath(ctx, ctid), 'utf8')) as MigJournal;
  } catch {
    return undefined;
  }
}

/** Finishes the source side of a vzmigrate that was killed (see above). Under the container's lock. */
export async function recoverInterruptedMigration(ctx: Context, ctid: number, o: { wants?: Wants } = {}): Promise<void> {
  const j = readJournal(ctx, ctid);
  if (!j || (j.pid !== process.pid && pidAlive(j.pid))) return;
  const p = ctx.paths(ctid);
  const probe = probeRuntime(p);
  const alive = j.initPid !== undefined && probe.running && probe.initPid === j.initPid;
  const dest: DestTarget = { dest: j.dest, sshOpts: j.sshOpts ?? [], ctid, remote: j.remote };
  let destRuns = false;
  if (j.requestSent && !j.restored && !j.started) {
    try {
      const st = destState(dest, 20_000);
      // Running there without the proof (proof.ts) is not running there: it goes.
      destRuns = st.running && !proofProblem(st.proof);
      if (!destRuns) dropOnDest(dest, j.keepDst ?? false, 20_000);
    } catch (e) {
      if (!(e instanceof DestUnreachable)) throw e;
      updateJournal(ctx, ctid, { inDoubt: true });
      ctx.warn(`CT ${ctid}: a vzmigrate to ${j.dest} did not learn whether ${j.dest} runs it, and ${j.dest} cannot be asked now (${e.message}): it stays stopped here; the next command asks again`);
      return;
    }
  }
  if (j.restored || j.started || destRuns) {
    if (alive) {
      try {
        process.kill(j.initPid!, 'SIGKILL');
      } catch {}
      for (let i = 0; i < 2000 && probe.monitorPid && pidAlive(probe.monitorPid); i++) sleepMs(5);
    }
    cleanupRuntime(ctx, ctid, { unmount: true });
    ctx.db().setState(ctid, 'stopped', 'migrated out; vzmigrate was killed');
    ctx.warn(`CT ${ctid}: a killed vzmigrate had already started it on ${j.dest}: its stopped copy here was cleaned up (the files stay)`);
  } else {
    if (j.dumped && alive) {
      thawAfterDump(helperPath(), j.initPid!, ctx.cgroup(ctid).pids());
      ctx.warn(`CT ${ctid}: a killed vzmigrate had checkpointed it for ${j.dest}: it was thawed and runs on here`);
    }
    // Restart mode, stopped here and not running on DEST: started again here, unless the command
    // being run decides (stop and destroy leave it stopped, start and restart start it themselves).
    if (j.restartStopped && o.wants === undefined && !probeRuntime(p).running) {
      try {
        await startLocked(ctx, ctid);
        ctx.warn(`CT ${ctid}: a killed vzmigrate --restart had stopped it for ${j.dest}: it was started again here`);
      } catch (e) {
        ctx.warn(`CT ${ctid}: a killed vzmigrate --restart had stopped it; starting it again failed: ${(e as Error).message}`);
      }
    }
    if (!j.requestSent && (j.dumped || j.restartStopped)) {
      // What DEST received (record, files, page server): taken back if it can be reached now,
      // else the next vzmigrate replaces it (receive.ts).
      try {
        dropOnDest(dest, j.keepDst ?? false, 5_000);
      } catch (e) {
        ctx.warn(`CT ${ctid}: what ${j.dest} received stays there for now (${(e as Error).message})`);
      }
    }
  }
  // What the killed process could not remove: its SSH master (still connected) and temp dirs.
  if (j.sshPid && j.control && pidAlive(j.sshPid) && readCmdline(j.sshPid).includes(j.control)) {
    try {
      process.kill(j.sshPid, 'SIGTERM');
    } catch {}
  }
  for (const d of j.tmp ?? []) {
    if (!path.basename(d).startsWith('vzmigrate-')) continue;
    // An idmapped view of the private area: unmounted, never removed through.
    if (path.basename(d).startsWith('vzmigrate-view-')) {
      try {
        removeViewDir(d);
      } catch (e) {
        ctx.warn(`CT ${ctid}: the killed vzmigrate's view ${d}: ${(e as Error).message}`);
      }
    } else fs.rmSync(d, { recursive: true, force: true });
  }
  removeJournal(ctx, ctid);
}

// The next locked operation on the container (src/core/lock.ts) runs it through core's registry.
registerRecovery({ kind: 'migrating', recover: (ctx, ctid, o) => recoverInterruptedMigration(ctx, ctid, o) });

function readCmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}
