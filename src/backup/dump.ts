/**
 * vzdump: one container into one archive, under the container's lock. Each mode is a function
 * of its own (dump-modes.ts) over the steps they share (dump-steps.ts):
 *   stop     stop, archive the files, start again if it ran (the start also happens on failure)
 *   suspend  rsync the live files to a staging dir, freeze the cgroup, rsync again (only what
 *            changed), thaw; archive the staging dir. The frozen time is reported.
 *   snapshot stateful: `vzctl suspend` (a CRIU checkpoint; the container stops with its files at
 *            rest), archive the files and the checkpoint, `vzctl resume`: the processes go on
 *            where they were, and a restore of the archive can resume them too. A stopped
 *            container gets a plain stop-mode archive.
 * The archive is written as NAME.NODE.tmp and renamed when whole, with its .sha256 and its
 * authenticator (NAME.auth, an HMAC with the node's backup key: auth.ts) beside it; a
 * failure removes every file made and leaves the container as it was. So does an interrupt
 * (req.signal: vzdump's SIGINT/SIGTERM, vzd's shutdown): the dump stops at the next step (a halt
 * under way is waited for), the container is started again, and it fails with INTERRUPTED. A
 * kill that allows no clean-up is covered by the journal of stop and snapshot mode (journal.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../core/context.js';
import { withLock } from '../core/lock.js';
import { withRevert } from '../core/reverter.js';
import { VzError, systemError } from '../base/errors.js';
import { requireContainer } from '../core/resolve.js';
import { probeRuntime } from '../core/runtime-state.js';
import { checkCheckpointable } from '../core/ops/suspend.js';
import { criuPath } from '../criu/criu.js';
import type { Compression } from './names.js';
import type { BackupMode } from './manifest.js';
import { ensureBackupKey } from './backup-key.js';
import { removeStaleDumpFiles } from './journal.js';
import { DumpRun, interruptError } from './dump-steps.js';
import { DUMP_MODES } from './dump-modes.js';

export interface DumpRequest {
  ctid: number;
  mode: BackupMode;
  compression: Compression;
  dumpdir: string;
  signal?: AbortSignal;
  /**
   * A CRIU checkpoint of the container taken by the caller, archived as checkpoint/ (the stateful
   * snapshot mode, once `vzctl suspend` exists, passes its image dir here).
   */
  checkpointDir?: string;
  /** Measure the tree first so progress can show bytes done / total (a terminal is watching). */
  progress?: boolean;
}

export interface DumpResult {
  ctid: number;
  archive: string;
  mode: BackupMode;
  compression: Compression;
  bytes: number;
  rawBytes: number;
  sha256: string;
  ms: number;
  /** suspend: how long the container was frozen. */
  frozenMs?: number;
  /** stop: how long the container was down. */
  downMs?: number;
  warnings: string[];
}

/** Whether this tree can take stateful backups (CRIU checkpoint through `vzctl suspend`). */
export function snapshotSupported(): boolean {
  try {
    criuPath();
    return true;
  } catch {
    return false;
  }
}

export function checkDumpdir(dumpdir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dumpdir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VzError('INVALID', `dump directory ${dumpdir} does not exist`, { hint: 'create it, or name another with --dumpdir' });
    }
    throw systemError(`cannot use dump directory ${dumpdir}`, e);
  }
  if (!st.isDirectory()) throw new VzError('INVALID', `dump directory ${dumpdir} is not a directory`);
}

export async function dumpContainer(ctx: Context, req: DumpRequest): Promise<DumpResult> {
  const { ctid, mode } = req;
  const row = requireContainer(ctx, ctid);
  if (mode === 'snapshot' && !snapshotSupported()) {
    throw new VzError('UNSUPPORTED', '--mode snapshot needs CRIU, which is not installed here', {
      ctid,
      hint: 'use --mode suspend (consistent files, processes not kept) or --mode stop',
    });
  }
  const dumpdir = path.resolve(req.dumpdir);
  checkDumpdir(dumpdir);
  // Before anything happens: a key that is refused stops the backup while the container is untouched.
  const key = ensureBackupKey(ctx.cfg.paths.backupKey);
  const started = Date.now();
  return withLock(ctx, ctid, async () => {
    const db = ctx.db();
    // A container that cannot be checkpointed (nesting, the sysinfo listener): refused untouched.
    if (mode === 'snapshot' && probeRuntime(ctx.paths(ctid)).running) checkCheckpointable(ctx, ctid);
    removeStaleDumpFiles(ctx, dumpdir, ctid);
    const op = db.beginOp(ctid, `vzdump --mode ${mode}`);
    const d = new DumpRun(ctx, req, row, dumpdir, key, started);
    try {
      // Whatever happened, a container that ran runs again (after the undo steps: start mounts what it needs);
      // a checkpointed one resumes from its checkpoint.
      const r = await withRevert((undo) => DUMP_MODES[mode](d, undo)).finally(() => d.recover());
      db.endOp(op, 'ok', r.archive);
      return r;
    } catch (e) {
      // Whatever step the interrupt broke (tar killed, rsync killed), the cause is the interrupt.
      const err = req.signal?.aborted ? interruptError(ctid, req.signal) : e;
      db.endOp(op, 'error', (err as Error).message);
      throw err;
    }
  });
}
