/**
 * vzdump's modes, one function each, over the shared steps of dump-steps.ts. Each runs inside the
 * dump's Reverter and returns the result; whatever fails, dumpContainer then has the container
 * run again (DumpRun.recover).
 *   stop     stop, archive the files, start again if it ran
 *   suspend  a running container: its files copied while it runs, then again (only what changed)
 *            while its cgroup is frozen; the copy is archived. A stopped one: as stop mode.
 *   snapshot a running container: checkpointed (`vzctl suspend`: it stops with its files at rest),
 *            its files and checkpoint archived, resumed. A stopped one: as stop mode.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Reverter } from '../core/reverter.js';
import { crashPoint } from '../base/inject.js';
import { suspendLocked } from '../core/ops/suspend.js';
import type { BackupMode } from './manifest.js';
import { rsyncTree } from './rsync.js';
import { thawGuard } from './thaw-guard.js';
import { findSparse, copySparse } from './sparse.js';
import type { DumpRun } from './dump-steps.js';
import type { DumpResult } from './dump.js';

/** stop: the files at rest, archived; the container starts again if it ran. */
export async function dumpStop(d: DumpRun, undo: Reverter): Promise<DumpResult> {
  d.begin();
  return archiveAtRest(d, undo);
}

/** suspend: a copy of the running container's files, made consistent while it is frozen. */
export async function dumpSuspend(d: DumpRun, undo: Reverter): Promise<DumpResult> {
  d.begin();
  if (!d.running) return archiveAtRest(d, undo);
  d.manifest(undo);
  const { ctx, ctid, t, req } = d;
  const staging = fs.mkdtempSync(path.join(d.dumpdir, `.vzdump-${ctx.cfg.node}-${ctid}-staging-`));
  undo.add('remove the staging dir', () => fs.rmSync(staging, { recursive: true, force: true }));
  ctx.progress(`Copying CT ${ctid}'s files while it runs`);
  // Large sparse files: copied hole by hole first, so that rsync (which reads holes as
  // zeros) finds them up to date (sparse.ts).
  const sparse = await findSparse(t.mountPath, req.signal);
  await copySparse(t.mountPath, staging, sparse, req.signal);
  d.warnings.push(...(await rsyncTree(t.mountPath, staging, { live: true, signal: req.signal })));
  d.interrupted();
  const cg = ctx.cgroup(ctid);
  const guard = await thawGuard(cg.thawWrite());
  const t0 = process.hrtime.bigint();
  try {
    cg.freeze();
    crashPoint('vzdump: container frozen');
    try {
      await copySparse(t.mountPath, staging, sparse, req.signal);
      await rsyncTree(t.mountPath, staging, { live: false, signal: req.signal });
    } finally {
      cg.thaw();
      d.frozenMs = Number(process.hrtime.bigint() - t0) / 1e6;
    }
  } finally {
    guard.release();
  }
  ctx.progress(`CT ${ctid} was frozen for ${d.frozenMs.toFixed(0)} ms for the final pass`);
  const res = await d.write(undo, staging);
  return d.keep(undo, res, staging);
}

/** snapshot: a CRIU checkpoint stops the running container; its files and the checkpoint are archived, then it resumes. */
export async function dumpSnapshot(d: DumpRun, undo: Reverter): Promise<DumpResult> {
  d.begin();
  if (!d.running) return archiveAtRest(d, undo);
  const { ctx, ctid } = d;
  // The checkpoint stops the container; its files are then at rest for the archive.
  d.frozenAt = process.hrtime.bigint();
  d.checkpointDir = await suspendLocked(ctx, ctid, { keepMounted: true });
  d.running = false; // stopped by the checkpoint, files at rest
  // No undo step for it: whatever fails later, the checkpoint is what resumes the container
  // (killed from here on, the journal has the next operation resume it).
  d.resumeAfter = true;
  d.journal(true);
  crashPoint('vzdump: journal written');
  d.interrupted();
  return archiveAtRest(d, undo);
}

/**
 * The files at rest archived (a running container stopped first; a checkpointed one is at rest
 * already), then the container runs again: started (stop mode) or resumed (snapshot).
 */
async function archiveAtRest(d: DumpRun, undo: Reverter): Promise<DumpResult> {
  d.manifest(undo);
  await d.atRest(undo);
  const res = await d.write(undo, d.t.mountPath);
  d.unmount();
  await d.restart();
  await d.resume();
  return d.keep(undo, res, d.t.mountPath);
}

export const DUMP_MODES: Record<BackupMode, (d: DumpRun, undo: Reverter) => Promise<DumpResult>> = {
  stop: dumpStop,
  suspend: dumpSuspend,
  snapshot: dumpSnapshot,
};
