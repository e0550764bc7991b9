/**
 * vzdump: one container into one archive, under the container's lock.
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
import { crashPoint } from '../base/inject.js';
import { VzError, systemError } from '../base/errors.js';
import { requireContainer } from '../core/resolve.js';
import { probeRuntime } from '../core/runtime-state.js';
import { stopLocked } from '../core/ops/stop.js';
import { startLocked } from '../core/ops/start.js';
import { checkCheckpointable, suspendLocked } from '../core/ops/suspend.js';
import { resumeLocked } from '../core/ops/resume.js';
import { criuPath } from '../criu/criu.js';
import { archiveName, authFile, checksumFile, type Compression } from './names.js';
import { makeManifest, manifestYaml, type BackupMode } from './manifest.js';
import { CHECKPOINT_MEMBER, MANIFEST_MEMBER, writeArchive } from './tar.js';
import { writeChecksum } from './checksum.js';
import { writeAuth } from './auth.js';
import { ensureBackupKey } from './backup-key.js';
import { withUserNs } from './userns.js';
import { rsyncTree, treeBytes } from './rsync.js';
import { thawGuard } from './thaw-guard.js';
import { removeDumpJournal, removeStaleDumpFiles, writeDumpJournal } from './journal.js';
import { findSparse, copySparse } from './sparse.js';

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
    let downAt: number | undefined;
    let downMs: number | undefined;
    let resumeAfter = false;
    // Set while the journal says "a running container was stopped by this dump".
    let journaled = false;
    const restart = async () => {
      if (!journaled) return;
      journaled = false;
      const since = downAt;
      downAt = undefined;
      // A failed start keeps the journal: the next operation on the container tries again.
      if (!probeRuntime(ctx.paths(ctid)).running) await startLocked(ctx, ctid);
      removeDumpJournal(ctx, ctid);
      if (since !== undefined) downMs = Date.now() - since;
    };
    const interrupted = () => {
      if (req.signal?.aborted) throw interruptError(ctid, req.signal);
    };
    try {
      const r = await withRevert(async (undo) => {
        const at = new Date();
        const archive = path.join(dumpdir, archiveName(ctid, at, req.compression));
        if (fs.existsSync(archive)) throw new VzError('EXISTS', `${archive} already exists`, { ctid, hint: 'one backup per container per second' });
        const params = db.getParams(ctid);
        const t = ctx.target(ctid);
        const storage = ctx.storage(ctid);
        let running = probeRuntime(ctx.paths(ctid)).running;
        const range = { base: row.uidBase, size: row.uidSize };
        let checkpointDir = req.checkpointDir;
        let frozenAt: bigint | undefined;
        if (mode === 'snapshot' && running) {
          // The checkpoint stops the container; its files are then at rest for the archive.
          frozenAt = process.hrtime.bigint();
          checkpointDir = await suspendLocked(ctx, ctid, { keepMounted: true });
          running = false; // stopped by the checkpoint, files at rest
          // No undo step for it: whatever fails later, the checkpoint is what resumes the container
          // (killed from here on, the journal has the next operation resume it).
          resumeAfter = true;
          writeDumpJournal(ctx, ctid, { pid: process.pid, mode, dumpdir, prior: 'running', resume: true, at: new Date().toISOString() });
          crashPoint('vzdump: journal written');
          interrupted();
        }

        // The manifest, owned by the container's root so tar in its namespace reads it as 0:0.
        const metaDir = fs.mkdtempSync(path.join(ctx.cfg.paths.run, `vzdump-${ctid}-`));
        undo.add('remove the manifest dir', () => fs.rmSync(metaDir, { recursive: true, force: true }));
        const hasCheckpoint = checkpointDir !== undefined;
        const manifest = makeManifest(row, params, { mode, node: ctx.cfg.node, at, checkpoint: hasCheckpoint });
        fs.writeFileSync(path.join(metaDir, MANIFEST_MEMBER), manifestYaml(manifest), { mode: 0o644 });
        if (hasCheckpoint) {
          // CRIU's images are root's files on the host: a copy owned by the container's root is
          // what tar in its namespace can read (restore gives them back to host root).
          const cp = path.join(metaDir, CHECKPOINT_MEMBER);
          fs.cpSync(checkpointDir!, cp, { recursive: true });
          chownTree(cp, range.base);
        }
        fs.chownSync(path.join(metaDir, MANIFEST_MEMBER), range.base, range.base);
        fs.chownSync(metaDir, range.base, range.base);

        let rootDir = t.mountPath;
        let frozenMs: number | undefined;
        const warnings: string[] = [];
        let mountedByUs = false;
        if (mode === 'suspend' && running) {
          const staging = fs.mkdtempSync(path.join(dumpdir, `.vzdump-${ctx.cfg.node}-${ctid}-staging-`));
          undo.add('remove the staging dir', () => fs.rmSync(staging, { recursive: true, force: true }));
          ctx.progress(`Copying CT ${ctid}'s files while it runs`);
          // Large sparse files: copied hole by hole first, so that rsync (which reads holes as
          // zeros) finds them up to date (sparse.ts).
          const sparse = await findSparse(t.mountPath, req.signal);
          await copySparse(t.mountPath, staging, sparse, req.signal);
          warnings.push(...(await rsyncTree(t.mountPath, staging, { live: true, signal: req.signal })));
          interrupted();
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
              frozenMs = Number(process.hrtime.bigint() - t0) / 1e6;
            }
          } finally {
            guard.release();
          }
          ctx.progress(`CT ${ctid} was frozen for ${frozenMs.toFixed(0)} ms for the final pass`);
          rootDir = staging;
        } else {
          if (running) {
            // suspend of a stopped container, and stop mode: the files are at rest.
            // Down from the halt signal on: the stop itself counts.
            interrupted();
            writeDumpJournal(ctx, ctid, { pid: process.pid, mode, dumpdir, prior: 'running', at: new Date().toISOString() });
            journaled = true;
            downAt = Date.now();
            crashPoint('vzdump: journal written');
            // An interrupt during the halt waits for it: a half-halted container is neither state.
            await stopLocked(ctx, ctid, {});
            interrupted();
          }
          if (!storage.isMounted(t)) {
            storage.mount(t);
            mountedByUs = true;
            undo.add('unmount the private area', () => void (storage.isMounted(t) && storage.unmount(t)));
          }
        }
        const total = req.progress ? treeBytes(rootDir) : 0;
        let last = 0;
        const tmp = `${archive}.${ctx.cfg.node}.tmp`;
        undo.add('remove the partial archive', () => fs.rmSync(tmp, { force: true }));
        ctx.progress(`Creating archive ${archive}`);
        const res = await withUserNs(range, (ns) =>
          writeArchive({
            metaDir,
            hasCheckpoint,
            rootDir,
            ns,
            compression: req.compression,
            out: tmp,
            signal: req.signal,
            onBytes: (n) => {
              const now = Date.now();
              if (total > 0 && now - last > 200) {
                last = now;
                ctx.status(Math.min(0.99, n / total), `Archiving ${mib(n)} / ${mib(total)} MiB`);
              }
            },
          }),
        );
        interrupted();
        if (total > 0) ctx.status(1, `Archived ${mib(res.rawBytes)} MiB`);
        warnings.push(...res.warnings);
        if (mountedByUs) storage.unmount(t);
        await restart();
        if (resumeAfter) {
          resumeAfter = false;
          await resumeLocked(ctx, ctid, {});
          removeDumpJournal(ctx, ctid);
          frozenMs = Number(process.hrtime.bigint() - frozenAt!) / 1e6;
          ctx.progress(`CT ${ctid} was checkpointed, archived and resumed: its processes were frozen for ${frozenMs.toFixed(0)} ms`);
        }
        fs.renameSync(tmp, archive);
        undo.add('remove the archive', () => fs.rmSync(archive, { force: true }));
        undo.add('remove the checksum and the authenticator', () => {
          for (const f of [checksumFile(archive), authFile(archive)]) for (const g of [f, `${f}.${ctx.cfg.node}.tmp`]) fs.rmSync(g, { force: true });
        });
        writeChecksum(archive, res.sha256, ctx.cfg.node);
        // This node's (or its fleet's) own archive: vzrestore trusts it without --trust-archive.
        writeAuth(archive, res.sha256, key, ctx.cfg.node);
        if (rootDir !== t.mountPath) fs.rmSync(rootDir, { recursive: true, force: true });
        fs.rmSync(metaDir, { recursive: true, force: true });
        return {
          ctid,
          archive,
          mode,
          compression: req.compression,
          bytes: res.bytes,
          rawBytes: res.rawBytes,
          sha256: res.sha256,
          ms: Date.now() - started,
          frozenMs,
          downMs,
          warnings,
        };
      }).finally(() =>
        // Whatever happened, a container that ran runs again (after the undo steps: start mounts what it needs);
        // a checkpointed one resumes from its checkpoint.
        (resumeAfter
          ? resumeLocked(ctx, ctid, {}).then(() => removeDumpJournal(ctx, ctid))
          : restart()
        ).catch((e) => ctx.warn(`CT ${ctid} could not be started again: ${(e as Error).message}`)),
      );
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

function chownTree(dir: string, id: number): void {
  fs.lchownSync(dir, id, id);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, id);
    else fs.lchownSync(p, id, id);
  }
}

function interruptError(ctid: number, signal: AbortSignal): VzError {
  const why = typeof signal.reason === 'string' ? ` by ${signal.reason}` : '';
  return new VzError('INTERRUPTED', `backup aborted${why}: no archive was kept`, { ctid });
}

const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
