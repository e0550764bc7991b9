/**
 * vzrestore: an archive back into a container, the same CTID or a new one. The checksum is
 * verified before anything is touched. The files are extracted in the target container's user
 * namespace, so a new CTID gets its own uid range (owners, ACLs and file capabilities land in
 * it). Over an existing container (--force) the new private area is built beside the old one
 * and swapped in only when whole; any failure before that leaves the old container as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../core/context.js';
import { withLock } from '../core/lock.js';
import { withRevert } from '../core/reverter.js';
import { VzError } from '../core/errors.js';
import { probeRuntime } from '../core/runtime-state.js';
import { startLocked } from '../core/ops/start.js';
import { resumeLocked } from '../core/ops/resume.js';
import { checkDiskLimits, createLimits, diskLimitBytes, diskParams } from '../core/disk.js';
import { getStorageDriver, type StorageTarget } from '../storage/index.js';
import type { SoftHard } from '../config/limits.js';
import { allAddresses, netFromParams } from '../net/config.js';
import { compressionOf } from './names.js';
import { verifyChecksum } from './checksum.js';
import { parseManifest, type Manifest } from './manifest.js';
import { CHECKPOINT_MEMBER, ROOT_MEMBER, extractMember, readManifestText } from './tar.js';
import { withUserNs } from './userns.js';

export interface RestoreRequest {
  archive: string;
  ctid: number;
  force?: boolean;
  start?: boolean;
}

export interface RestoreResult {
  ctid: number;
  from: number;
  archive: string;
  replaced: boolean;
  started: boolean;
  /** Where a stateful backup's CRIU checkpoint was put (resumed by --start into the same uid range). */
  checkpointDir?: string;
  ms: number;
}

/** Reads and checks an archive's manifest, the checksum first. */
export async function inspectArchive(archive: string): Promise<Manifest> {
  if (!fs.existsSync(archive)) throw new VzError('INVALID', `archive ${archive} does not exist`);
  await verifyChecksum(archive);
  return parseManifest(readManifestText(archive, compressionOf(archive)), archive);
}

export async function restoreContainer(ctx: Context, req: RestoreRequest): Promise<RestoreResult> {
  const started = Date.now();
  const archive = path.resolve(req.archive);
  const m = await inspectArchive(archive);
  const c = compressionOf(archive);
  const { ctid } = req;
  return withLock(ctx, ctid, async () => {
    const db = ctx.db();
    const existing = db.getContainer(ctid);
    if (existing && existing.state !== 'creating') {
      if (!req.force) {
        throw new VzError('EXISTS', 'container already exists', { ctid, hint: `vzrestore --force replaces it, or restore into another CTID` });
      }
      if (probeRuntime(ctx.paths(ctid)).running) {
        throw new VzError('RUNNING', 'container is running: it cannot be replaced while it runs', { ctid, hint: `stop it first: vzctl stop ${ctid}` });
      }
    }
    const params = { ...m.params };
    const storage = getStorageDriver((params.layout as string | undefined) ?? 'dir');
    const finalTarget = ctx.target(ctid);
    if (!existing && storage.exists(finalTarget)) {
      throw new VzError('EXISTS', `private area ${finalTarget.privatePath} already exists`, { ctid, hint: 'it is not a known container: move it away or remove it' });
    }
    const limits = diskParams(params);
    const disk = params.diskspace as SoftHard | undefined;
    const inodes = params.diskinodes as SoftHard | undefined;
    const replacing = Boolean(existing && existing.state !== 'creating');
    // The old container keeps its name; a name another container has is dropped.
    const nameOwner = m.name ? db.findByName(m.name) : undefined;
    const name = m.name && (!nameOwner || nameOwner.ctid === ctid) ? m.name : null;
    if (m.name && !name) ctx.warn(`name ${m.name} is used by CT ${nameOwner!.ctid}: CT ${ctid} is restored without a name`);

    const r = await withRevert(async (undo) => {
      let row = existing;
      if (existing?.state === 'creating') {
        // A create or restore killed half way: we hold the lock, nobody else works on it.
        ctx.storage(ctid).destroy(finalTarget);
        db.deleteContainer(ctid);
        row = undefined;
      }
      if (!replacing) {
        checkDiskLimits(ctx, storage, finalTarget, limits, limits, 'create');
        row = db.insertContainer({
          ctid,
          name,
          ostemplate: m.ostemplate,
          profile: m.profile,
          uidSize: ctx.cfg.idmap.size,
          idmapBase: ctx.cfg.idmap.base,
          idmapCount: ctx.cfg.idmap.count,
          state: 'creating',
        });
        undo.add('remove the container record', () => void db.deleteContainer(ctid));
        db.setIps(ctid, allAddresses(netFromParams(params)));
      }
      const base = row!.uidBase;
      if (m.uid_size > row!.uidSize) {
        throw new VzError('INVALID', `the backup uses ${m.uid_size} uids per container; this node gives ${row!.uidSize}`, { ctid });
      }
      // A replacement is built beside the old private area and swapped in at the end.
      const t: StorageTarget = replacing
        ? { ctid, privatePath: `${finalTarget.privatePath}.restore`, mountPath: `${finalTarget.mountPath}.restore` }
        : finalTarget;
      if (replacing) storage.destroy(t); // leftovers of a killed restore
      ctx.progress(`Restoring CT ${ctid} from ${archive}${m.ctid !== ctid ? ` (backup of CT ${m.ctid})` : ''}`);
      undo.add('remove the restored private area', () => storage.destroy(t));
      await withUserNs({ base, size: row!.uidSize }, (ns) =>
        storage.create(
          t,
          (dir) => {
            // tar, as the container's root, restores the top directory's owner and mode too, and
            // what mkfs put there (lost+found) must be the container's to be overwritten.
            fs.chownSync(dir, base, base);
            for (const e of fs.readdirSync(dir)) fs.lchownSync(path.join(dir, e), base, base);
            extractMember(archive, c, ROOT_MEMBER, dir, ns);
          },
          {
            sizeBytes: diskLimitBytes(disk),
            inodes: inodes?.hard ?? inodes?.soft ?? undefined,
            // Quota limits of a replacement are set after the swap: the old tree still holds the project ID.
            limits: replacing ? undefined : createLimits(storage, limits),
          },
        ),
      );
      let checkpointDir: string | undefined;
      if (m.checkpoint) {
        checkpointDir = path.join(ctx.cfg.paths.dumps, String(ctid));
        fs.rmSync(checkpointDir, { recursive: true, force: true });
        fs.mkdirSync(checkpointDir, { recursive: true, mode: 0o700 });
        undo.add('remove the checkpoint', () => fs.rmSync(checkpointDir!, { recursive: true, force: true }));
        extractMember(archive, c, CHECKPOINT_MEMBER, checkpointDir);
      }
      if (replacing) {
        // Point of no return: the old files go, the restored ones take their place.
        const old = ctx.storage(ctid);
        old.destroy(finalTarget);
        fs.renameSync(t.privatePath, finalTarget.privatePath);
        fs.rmSync(t.mountPath, { recursive: true, force: true });
        undo.commit();
        const oldParams = db.getParams(ctid);
        db.setParams(ctid, { ...Object.fromEntries(Object.keys(oldParams).map((k) => [k, undefined])), ...params });
        db.setOrigin(ctid, m.ostemplate, m.profile);
        if (name !== existing!.name) db.setName(ctid, name);
        db.setIps(ctid, allAddresses(netFromParams(params)));
        const ql = createLimits(storage, limits);
        if (ql && storage.setLimits) storage.setLimits(finalTarget, ql);
      } else {
        db.setParams(ctid, params);
      }
      db.setState(ctid, 'stopped', `restored from ${path.basename(archive)}`);
      return { checkpointDir };
    });
    let startedCt = false;
    const sameIds = m.uid_base !== undefined && db.getContainer(ctid)?.uidBase === m.uid_base;
    let suspended = false;
    if (r.checkpointDir) {
      // A checkpoint resumes only into the uid range it was taken in (the same CTID slot here):
      // then the container is suspended, and start or resume brings its processes back.
      if (sameIds) {
        db.setState(ctid, 'suspended', `restored from ${path.basename(archive)} with its checkpoint`);
        suspended = true;
      } else {
        fs.rmSync(r.checkpointDir, { recursive: true, force: true });
        ctx.warn('the backup holds a CRIU checkpoint of another uid range: it is left out, the container boots afresh');
      }
    }
    if (req.start) {
      if (suspended) await resumeLocked(ctx, ctid, { dumpDir: r.checkpointDir });
      else await startLocked(ctx, ctid);
      startedCt = true;
    }
    ctx.progress(`CT ${ctid} was restored`);
    return { ctid, from: m.ctid, archive, replaced: replacing, started: startedCt, checkpointDir: suspended ? r.checkpointDir : undefined, ms: Date.now() - started };
  });
}
