/**
 * The steps vzdump's modes share (dump-modes.ts), over one dump's state: the archive's name, the
 * manifest, the files at rest (the container stopped and its private area mounted), the archive
 * itself, starting again or resuming what the dump stopped, and keeping the archive with its
 * checksum and authenticator. Each step adds its undo to the dump's Reverter.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../core/context.js';
import type { Reverter } from '../core/reverter.js';
import { crashPoint } from '../base/inject.js';
import { VzError } from '../base/errors.js';
import { probeRuntime } from '../core/runtime-state.js';
import { stopLocked } from '../core/ops/stop.js';
import { startLocked } from '../core/ops/start.js';
import { resumeLocked } from '../core/ops/resume.js';
import type { ContainerRow } from '../state/db.js';
import type { StorageDriver, StorageTarget } from '../storage/index.js';
import { archiveName, authFile, checksumFile } from './names.js';
import { makeManifest, manifestYaml } from './manifest.js';
import { CHECKPOINT_MEMBER, MANIFEST_MEMBER, writeArchive } from './tar.js';
import { writeChecksum } from './checksum.js';
import { writeAuth } from './auth.js';
import { withUserNs } from './userns.js';
import { treeBytes } from './rsync.js';
import { removeDumpJournal, writeDumpJournal } from './journal.js';
import type { DumpRequest, DumpResult } from './dump.js';

type Archived = Awaited<ReturnType<typeof writeArchive>>;

export class DumpRun {
  readonly ctid: number;
  at!: Date;
  archive!: string;
  params!: Record<string, unknown>;
  t!: StorageTarget;
  storage!: StorageDriver;
  /** The container runs (and the dump has not stopped it). */
  running = false;
  range!: { base: number; size: number };
  checkpointDir: string | undefined;
  metaDir = '';
  /** Set while the journal says "a running container was stopped by this dump". */
  private journaled = false;
  private downAt: number | undefined;
  private downMs: number | undefined;
  private mountedByUs = false;
  /** snapshot: the checkpoint is what resumes the container, whatever fails later. */
  resumeAfter = false;
  frozenAt: bigint | undefined;
  frozenMs: number | undefined;
  readonly warnings: string[] = [];

  constructor(
    readonly ctx: Context,
    readonly req: DumpRequest,
    readonly row: ContainerRow,
    readonly dumpdir: string,
    private readonly key: Buffer,
    private readonly started: number,
  ) {
    this.ctid = req.ctid;
  }

  /** Throws INTERRUPTED when the dump was asked to stop. */
  interrupted(): void {
    if (this.req.signal?.aborted) throw interruptError(this.ctid, this.req.signal);
  }

  /** The archive's name (one per container per second), and what the container is now. */
  begin(): void {
    const { ctx, ctid, row } = this;
    this.at = new Date();
    this.archive = path.join(this.dumpdir, archiveName(ctid, this.at, this.req.compression));
    if (fs.existsSync(this.archive)) throw new VzError('EXISTS', `${this.archive} already exists`, { ctid, hint: 'one backup per container per second' });
    this.params = ctx.db().getParams(ctid);
    this.t = ctx.target(ctid);
    this.storage = ctx.storage(ctid);
    this.running = probeRuntime(ctx.paths(ctid)).running;
    this.range = { base: row.uidBase, size: row.uidSize };
    this.checkpointDir = this.req.checkpointDir;
  }

  /** Journals the mode (resume: the checkpoint resumes it) before the container is stopped. */
  journal(resume: boolean): void {
    const { mode } = this.req;
    writeDumpJournal(this.ctx, this.ctid, { pid: process.pid, mode, dumpdir: this.dumpdir, prior: 'running', ...(resume ? { resume: true } : {}), at: new Date().toISOString() });
  }

  /** The manifest (and a checkpoint), owned by the container's root so tar in its namespace reads them as 0:0. */
  manifest(undo: Reverter): void {
    const { ctx, ctid, range } = this;
    const metaDir = fs.mkdtempSync(path.join(ctx.cfg.paths.run, `vzdump-${ctid}-`));
    this.metaDir = metaDir;
    undo.add('remove the manifest dir', () => fs.rmSync(metaDir, { recursive: true, force: true }));
    const manifest = makeManifest(this.row, this.params, { mode: this.req.mode, node: ctx.cfg.node, at: this.at, checkpoint: this.hasCheckpoint() });
    fs.writeFileSync(path.join(metaDir, MANIFEST_MEMBER), manifestYaml(manifest), { mode: 0o644 });
    if (this.checkpointDir !== undefined) {
      // CRIU's images are root's files on the host: a copy owned by the container's root is
      // what tar in its namespace can read (restore gives them back to host root).
      const cp = path.join(metaDir, CHECKPOINT_MEMBER);
      fs.cpSync(this.checkpointDir, cp, { recursive: true });
      chownTree(cp, range.base);
    }
    fs.chownSync(path.join(metaDir, MANIFEST_MEMBER), range.base, range.base);
    fs.chownSync(metaDir, range.base, range.base);
  }

  hasCheckpoint(): boolean {
    return this.checkpointDir !== undefined;
  }

  /**
   * The files at rest: a running container is stopped (journaled first; down from the halt
   * signal on, the stop itself counts), and the private area mounted if it is not.
   */
  async atRest(undo: Reverter): Promise<void> {
    const { ctx, ctid, storage, t } = this;
    if (this.running) {
      this.interrupted();
      this.journal(false);
      this.journaled = true;
      this.downAt = Date.now();
      crashPoint('vzdump: journal written');
      // An interrupt during the halt waits for it: a half-halted container is neither state.
      await stopLocked(ctx, ctid, {});
      this.interrupted();
    }
    if (!storage.isMounted(t)) {
      storage.mount(t);
      this.mountedByUs = true;
      undo.add('unmount the private area', () => void (storage.isMounted(t) && storage.unmount(t)));
    }
  }

  /** Unmounts what atRest mounted. */
  unmount(): void {
    if (this.mountedByUs) this.storage.unmount(this.t);
  }

  /** The container this dump stopped runs again. A failed start keeps the journal: the next operation on the container tries again. */
  async restart(): Promise<void> {
    if (!this.journaled) return;
    this.journaled = false;
    const since = this.downAt;
    this.downAt = undefined;
    if (!probeRuntime(this.ctx.paths(this.ctid)).running) await startLocked(this.ctx, this.ctid);
    removeDumpJournal(this.ctx, this.ctid);
    if (since !== undefined) this.downMs = Date.now() - since;
  }

  /** snapshot: the checkpointed container resumes; the frozen time is from the checkpoint's start. */
  async resume(): Promise<void> {
    if (!this.resumeAfter) return;
    this.resumeAfter = false;
    await resumeLocked(this.ctx, this.ctid, {});
    removeDumpJournal(this.ctx, this.ctid);
    this.frozenMs = Number(process.hrtime.bigint() - this.frozenAt!) / 1e6;
    this.ctx.progress(`CT ${this.ctid} was checkpointed, archived and resumed: its processes were frozen for ${this.frozenMs.toFixed(0)} ms`);
  }

  /** After a failure: a container that ran runs again; a checkpointed one resumes from its checkpoint. */
  recover(): Promise<void> {
    const { ctx, ctid } = this;
    return (this.resumeAfter ? resumeLocked(ctx, ctid, {}).then(() => removeDumpJournal(ctx, ctid)) : this.restart()).catch((e) => ctx.warn(`CT ${ctid} could not be started again: ${(e as Error).message}`));
  }

  /** tar of the manifest dir and rootDir into NAME.NODE.tmp, in the container's user namespace. */
  async write(undo: Reverter, rootDir: string): Promise<Archived> {
    const { ctx, req } = this;
    const total = req.progress ? treeBytes(rootDir) : 0;
    let last = 0;
    const tmp = this.tmp();
    undo.add('remove the partial archive', () => fs.rmSync(tmp, { force: true }));
    ctx.progress(`Creating archive ${this.archive}`);
    const res = await withUserNs(this.range, (ns) =>
      writeArchive({
        metaDir: this.metaDir,
        hasCheckpoint: this.hasCheckpoint(),
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
    this.interrupted();
    if (total > 0) ctx.status(1, `Archived ${mib(res.rawBytes)} MiB`);
    this.warnings.push(...res.warnings);
    return res;
  }

  private tmp(): string {
    return `${this.archive}.${this.ctx.cfg.node}.tmp`;
  }

  /** The whole archive under its name, with its checksum and authenticator; the work dirs go. */
  keep(undo: Reverter, res: Archived, rootDir: string): DumpResult {
    const { ctx, archive, req } = this;
    fs.renameSync(this.tmp(), archive);
    undo.add('remove the archive', () => fs.rmSync(archive, { force: true }));
    undo.add('remove the checksum and the authenticator', () => {
      for (const f of [checksumFile(archive), authFile(archive)]) for (const g of [f, `${f}.${ctx.cfg.node}.tmp`]) fs.rmSync(g, { force: true });
    });
    writeChecksum(archive, res.sha256, ctx.cfg.node);
    // This node's (or its fleet's) own archive: vzrestore trusts it without --trust-archive.
    writeAuth(archive, res.sha256, this.key, ctx.cfg.node);
    if (rootDir !== this.t.mountPath) fs.rmSync(rootDir, { recursive: true, force: true });
    fs.rmSync(this.metaDir, { recursive: true, force: true });
    return {
      ctid: this.ctid,
      archive,
      mode: req.mode,
      compression: req.compression,
      bytes: res.bytes,
      rawBytes: res.rawBytes,
      sha256: res.sha256,
      ms: Date.now() - this.started,
      frozenMs: this.frozenMs,
      downMs: this.downMs,
      warnings: this.warnings,
    };
  }
}

function chownTree(dir: string, id: number): void {
  fs.lchownSync(dir, id, id);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, id);
    else fs.lchownSync(p, id, id);
  }
}

export function interruptError(ctid: number, signal: AbortSignal): VzError {
  const why = typeof signal.reason === 'string' ? ` by ${signal.reason}` : '';
  return new VzError('INTERRUPTED', `backup aborted${why}: no archive was kept`, { ctid });
}

const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
