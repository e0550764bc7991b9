/**
 * vzrestore: an archive back into a container, the same CTID or a new one. The checksum is
 * verified before anything is touched. The files are extracted in the target container's user
 * namespace, so a new CTID gets its own uid range (owners, ACLs and file capabilities land in
 * it). Over an existing container (--force) the new private area is built beside the old one
 * and swapped in only when whole; any failure before that leaves the old container as it was.
 *
 * An archive is untrusted input (the checksum is no signature): its manifest is checked like
 * command-line input before anything is made (manifest.ts, archive-params.ts), and what would
 * widen the container's access to the host is kept only for a trusted archive: one whose
 * ARCHIVE.auth verifies with this node's backup key (made by this node's vzdump, or a node that
 * shares the key: auth.ts), or any with --trust-archive. That includes a
 * stateful backup's CRIU images: `criu restore` runs as host root and believes its images (the
 * user namespace's id maps, the mounts to make), so an archive's checkpoint is resumed only when
 * the admin trusts it. Even then it is extracted as the container's root, in its user namespace,
 * and refused if it holds anything but plain files owned by that root. Those checks, and the
 * manifest's, apply to authenticated archives too: a key can leak.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../core/context.js';
import { withLock } from '../core/lock.js';
import { withRevert, type Reverter } from '../core/reverter.js';
import { VzError } from '../base/errors.js';
import { probeRuntime } from '../core/runtime-state.js';
import { startLocked } from '../core/ops/start.js';
import { resumeLocked } from '../core/ops/resume.js';
import { checkDiskLimits, createLimits, diskLimitBytes, diskParams } from '../core/disk.js';
import { getStorageDriver, type StorageDriver, type StorageTarget } from '../storage/index.js';
import type { ContainerRow } from '../state/db.js';
import { allAddresses, netFromParams } from '../net/config.js';
import { checkRestoredAddresses } from '../core/apply-net.js';
import { authFile, compressionOf } from './names.js';
import { verifyChecksum } from './checksum.js';
import { checkAuth, type AuthCheck } from './auth.js';
import { loadBackupKey } from './backup-key.js';
import { parseManifest, type Manifest } from './manifest.js';
import { CHECKPOINT_MEMBER, ROOT_MEMBER, checkCheckpointMembers, extractMember, readManifestText } from './tar.js';
import { withUserNs } from './userns.js';
import { archiveParams } from './archive-params.js';
import { loadOsTemplate, splitStored, templateInternals } from '../config/templates.js';

export interface RestoreRequest {
  archive: string;
  ctid: number;
  force?: boolean;
  start?: boolean;
  /** The admin vouches for the archive: devnodes, capabilities, bridges, host interface names and a checkpoint are kept. */
  trustArchive?: boolean;
}

export interface RestoreResult {
  ctid: number;
  from: number;
  archive: string;
  replaced: boolean;
  started: boolean;
  /** Where a stateful backup's CRIU checkpoint was put (resumed by --start into the same uid range). */
  checkpointDir?: string;
  /** What was left out because the archive was not trusted. */
  dropped: string[];
  /** Its ARCHIVE.auth verified with this node's backup key (so it was trusted without --trust-archive). */
  authenticated: boolean;
  ms: number;
}

/** Reads and checks an archive's manifest, the checksum first, and checks its authenticator against this node's key. */
export async function inspectArchive(archive: string, keyFile: string): Promise<{ m: Manifest; auth: AuthCheck; pin: FileId }> {
  if (!fs.existsSync(archive)) throw new VzError('INVALID', `archive ${archive} does not exist`);
  const pin = fileId(archive);
  const sha256 = await verifyChecksum(archive);
  // The key is read only for an archive that has an authenticator (a key this node refuses: untrusted, and said why).
  const auth = checkAuth(archive, sha256, () => loadBackupKey(keyFile));
  return { m: parseManifest(readManifestText(archive, compressionOf(archive)), archive), auth, pin };
}

/**
 * What the archive file is while it is read: the hash checked, then the manifest, listing and
 * extraction read it again by name. A file replaced or rewritten meanwhile (its ctime moves with
 * any write, and no owner can set it back) would have them read bytes the hash never saw.
 */
interface FileId {
  dev: bigint;
  ino: bigint;
  size: bigint;
  ctimeNs: bigint;
}
function fileId(file: string): FileId {
  const st = fs.statSync(file, { bigint: true });
  return { dev: st.dev, ino: st.ino, size: st.size, ctimeNs: st.ctimeNs };
}
function checkUnchanged(archive: string, pin: FileId): void {
  const now = fileId(archive);
  if (now.dev !== pin.dev || now.ino !== pin.ino || now.size !== pin.size || now.ctimeNs !== pin.ctimeNs) {
    throw new VzError('INVALID', `${archive} changed while it was restored`, { hint: 'nothing was restored' });
  }
}

/** What the archive brings, checked before the lock is taken and anything is made. */
interface RestorePlan {
  archive: string;
  c: ReturnType<typeof compressionOf>;
  m: Manifest;
  auth: AuthCheck;
  pin: FileId;
  authenticated: boolean;
  trust: boolean;
  params: Record<string, unknown>;
  dropped: string[];
}

/** Where it goes, under the container's lock: a new container, or (--force) over an existing one. */
interface RestoreTarget {
  existing: ContainerRow | undefined;
  replacing: boolean;
  storage: StorageDriver;
  finalTarget: StorageTarget;
  limits: ReturnType<typeof diskParams>;
  name: string | null;
}

export async function restoreContainer(ctx: Context, req: RestoreRequest): Promise<RestoreResult> {
  const started = Date.now();
  const plan = await checkArchive(ctx, req);
  const { ctid } = req;
  return withLock(ctx, ctid, async () => {
    const to = checkTarget(ctx, req, plan);
    const r = await withRevert((undo) => (to.replacing ? restoreOver(ctx, ctid, plan, to, undo) : restoreNew(ctx, ctid, plan, to, undo)));
    return finish(ctx, req, plan, to, r.checkpointDir, started);
  });
}

/** The archive's checksum, manifest, OS template, parameters and checkpoint, all before anything is made. */
async function checkArchive(ctx: Context, req: RestoreRequest): Promise<RestorePlan> {
  const archive = path.resolve(req.archive);
  const { m, auth, pin } = await inspectArchive(archive, ctx.cfg.paths.backupKey);
  const c = compressionOf(archive);
  const { ctid } = req;
  const authenticated = auth.state === 'ok';
  const trust = Boolean(req.trustArchive) || authenticated;
  let tmpl;
  try {
    tmpl = loadOsTemplate(ctx.cfg.templates_dir, m.ostemplate);
  } catch (e) {
    if (!(e instanceof VzError) || e.code !== 'TEMPLATE_NOT_FOUND') throw e;
    throw new VzError('TEMPLATE_NOT_FOUND', `${archive}: the backup's OS template ${m.ostemplate} is not on this node (its init settings come from it)`, {
      ctid,
      hint: `copy templates/os/${m.ostemplate}.yaml from the node the backup came from into ${ctx.cfg.templates_dir}/os`,
    });
  }
  const checked = archiveParams(m.params, {
    trust,
    internals: templateInternals(tmpl),
    source: { node: m.node, ctid: m.ctid },
    target: { node: ctx.cfg.node, ctid },
    where: `${archive}: vzdump.yaml`,
  });
  const dropped = [...checked.dropped];
  checkRestoredAddresses(ctx, ctid, checked.params);
  if (m.checkpoint) {
    await checkCheckpointMembers(archive, c);
    if (!trust) dropped.push('its CRIU checkpoint (the container boots afresh)');
  }
  return { archive, c, m, auth, pin, authenticated, trust, params: checked.params, dropped };
}

/** Under the lock: whether it may go there (--force over a stopped container), and its name. */
function checkTarget(ctx: Context, req: RestoreRequest, plan: RestorePlan): RestoreTarget {
  const { ctid } = req;
  const { m, params } = plan;
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
  const storage = getStorageDriver(splitStored(params).params.layout ?? 'dir');
  const finalTarget = ctx.target(ctid);
  if (!existing && storage.exists(finalTarget)) {
    throw new VzError('EXISTS', `private area ${finalTarget.privatePath} already exists`, { ctid, hint: 'it is not a known container: move it away or remove it' });
  }
  const limits = diskParams(params);
  const replacing = Boolean(existing && existing.state !== 'creating');
  // The old container keeps its name; a name another container has is dropped.
  const nameOwner = m.name ? db.findByName(m.name) : undefined;
  const name = m.name && (!nameOwner || nameOwner.ctid === ctid) ? m.name : null;
  if (m.name && !name) ctx.warn(`name ${m.name} is used by CT ${nameOwner!.ctid}: CT ${ctid} is restored without a name`);
  return { existing, replacing, storage, finalTarget, limits, name };
}

/** A new container: its record, then its files (and checkpoint) where they belong. */
async function restoreNew(ctx: Context, ctid: number, plan: RestorePlan, to: RestoreTarget, undo: Reverter): Promise<{ checkpointDir?: string }> {
  const { m, params } = plan;
  const db = ctx.db();
  if (to.existing?.state === 'creating') {
    // A create or restore killed half way: we hold the lock, nobody else works on it.
    ctx.storage(ctid).destroy(to.finalTarget);
    db.deleteContainer(ctid);
  }
  checkDiskLimits(ctx, to.storage, to.finalTarget, to.limits, to.limits, 'create');
  const row = db.insertContainer({
    ctid,
    name: to.name,
    ostemplate: m.ostemplate,
    profile: m.profile,
    uidSize: ctx.cfg.idmap.size,
    idmapBase: ctx.cfg.idmap.base,
    idmapCount: ctx.cfg.idmap.count,
    state: 'creating',
  });
  undo.add('remove the container record', () => void db.deleteContainer(ctid));
  db.setIps(ctid, allAddresses(netFromParams(params)));
  const x = await extractFiles(ctx, ctid, plan, to, row, to.finalTarget, undo);
  db.setParams(ctid, params);
  return restored(ctx, ctid, plan, x);
}

/**
 * Over an existing container (--force): built beside the old private area and swapped in only
 * when whole; any failure before that leaves the old container as it was.
 */
async function restoreOver(ctx: Context, ctid: number, plan: RestorePlan, to: RestoreTarget, undo: Reverter): Promise<{ checkpointDir?: string }> {
  const { m, params } = plan;
  const { existing, finalTarget, storage } = to;
  const db = ctx.db();
  const t: StorageTarget = { ctid, privatePath: `${finalTarget.privatePath}.restore`, mountPath: `${finalTarget.mountPath}.restore` };
  const x = await extractFiles(ctx, ctid, plan, to, existing!, t, undo);
  // Point of no return: the old files go, the restored ones take their place.
  const old = ctx.storage(ctid);
  old.destroy(finalTarget);
  fs.renameSync(t.privatePath, finalTarget.privatePath);
  fs.rmSync(t.mountPath, { recursive: true, force: true });
  undo.commit();
  const oldParams = db.getParams(ctid);
  db.setParams(ctid, { ...Object.fromEntries(Object.keys(oldParams).map((k) => [k, undefined])), ...params });
  db.setOrigin(ctid, m.ostemplate, m.profile);
  if (to.name !== existing!.name) db.setName(ctid, to.name);
  db.setIps(ctid, allAddresses(netFromParams(params)));
  const ql = createLimits(storage, to.limits);
  if (ql && storage.setLimits) storage.setLimits(finalTarget, ql);
  return restored(ctx, ctid, plan, x);
}

/**
 * The archive's files into t (made by the storage driver in the container's user namespace), and
 * its checkpoint when it is trusted and of the same uid range; then the archive must still be the
 * bytes that were checked.
 */
async function extractFiles(ctx: Context, ctid: number, plan: RestorePlan, to: RestoreTarget, row: ContainerRow, t: StorageTarget, undo: Reverter): Promise<{ checkpointDir?: string; sameIds: boolean }> {
  const { archive, c, m, params } = plan;
  const { storage, replacing } = to;
  const base = row.uidBase;
  if (m.uid_size > row.uidSize) {
    throw new VzError('INVALID', `the backup uses ${m.uid_size} uids per container; this node gives ${row.uidSize}`, { ctid });
  }
  // A checkpoint resumes only into the uid range it was taken in (the same CTID slot here).
  const sameIds = m.uid_base !== undefined && m.uid_base === base;
  const useCheckpoint = m.checkpoint && plan.trust && sameIds;
  if (replacing) storage.destroy(t); // leftovers of a killed restore
  ctx.progress(`Restoring CT ${ctid} from ${archive}${m.ctid !== ctid ? ` (backup of CT ${m.ctid})` : ''}`);
  undo.add('remove the restored private area', () => storage.destroy(t));
  const { diskspace: disk, diskinodes: inodes } = splitStored(params).params;
  let checkpointDir: string | undefined;
  await withUserNs({ base, size: row.uidSize }, (ns) => {
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
        limits: replacing ? undefined : createLimits(storage, to.limits),
      },
    );
    if (useCheckpoint) {
      checkpointDir = path.join(ctx.cfg.paths.dumps, String(ctid));
      fs.rmSync(checkpointDir, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(checkpointDir), { recursive: true, mode: 0o700 });
      undo.add('remove the checkpoint', () => fs.rmSync(checkpointDir!, { recursive: true, force: true }));
      // Extracted as the container's root: tar can make nothing there that root could not.
      fs.mkdirSync(checkpointDir, { mode: 0o700 });
      fs.chownSync(checkpointDir, base, base);
      extractMember(archive, c, CHECKPOINT_MEMBER, checkpointDir, ns);
      adoptCheckpoint(archive, checkpointDir, base);
    }
  });
  // Everything is read: it must have been the bytes the checksum and the authenticator vouched for.
  checkUnchanged(archive, plan.pin);
  return { checkpointDir, sameIds };
}

/** The restored container is a stopped one of this node's (suspended when its checkpoint came along: finish). */
function restored(ctx: Context, ctid: number, plan: RestorePlan, x: { checkpointDir?: string; sameIds: boolean }): { checkpointDir?: string } {
  ctx.db().setState(ctid, 'stopped', `restored from ${path.basename(plan.archive)}`);
  if (plan.m.checkpoint && plan.trust && !x.sameIds) {
    ctx.warn('the backup holds a CRIU checkpoint of another uid range: it is left out, the container boots afresh');
  }
  return { checkpointDir: x.checkpointDir };
}

/** After the files are in: suspended with its checkpoint, the warnings, and --start (a start or a resume). */
async function finish(ctx: Context, req: RestoreRequest, plan: RestorePlan, to: RestoreTarget, checkpointDir: string | undefined, started: number): Promise<RestoreResult> {
  const { ctid } = req;
  const { archive, auth, authenticated, dropped, m } = plan;
  const db = ctx.db();
  let startedCt = false;
  let suspended = false;
  if (checkpointDir) {
    // Suspended: start or resume brings its processes back.
    db.setState(ctid, 'suspended', `restored from ${path.basename(archive)} with its checkpoint`);
    suspended = true;
  }
  if (auth.state === 'bad') {
    // Not a refusal: an archive of another node is legitimately unauthenticated here. But an
    // authenticator that does not verify means something changed, which the admin should know.
    ctx.warn(`CT ${ctid}: ${authFile(archive)} does not verify: ${auth.why}; ${req.trustArchive ? 'trusted anyway (--trust-archive)' : 'the archive is treated as untrusted'}`);
  }
  if (dropped.length) ctx.warn(`CT ${ctid}: not taken from the archive: ${dropped.join('; ')} (vzrestore --trust-archive keeps them)`);
  if (authenticated) ctx.progress(`${archive} is authenticated by this node's backup key: trusted (its devnodes, capabilities, bridges and checkpoint are kept)`);
  if (req.start) {
    if (suspended) await resumeLocked(ctx, ctid, { dumpDir: checkpointDir });
    else await startLocked(ctx, ctid);
    startedCt = true;
  }
  ctx.progress(`CT ${ctid} was restored`);
  return { ctid, from: m.ctid, archive, replaced: to.replacing, started: startedCt, checkpointDir: suspended ? checkpointDir : undefined, dropped, authenticated, ms: Date.now() - started };
}

/**
 * The extracted checkpoint, checked again on disk (whatever the listing said): plain files of
 * the container's root only. They then become root's 0600 files, as `vzctl suspend` leaves them.
 */
function adoptCheckpoint(archive: string, dir: string, base: number): void {
  for (const e of fs.readdirSync(dir)) {
    const p = path.join(dir, e);
    const st = fs.lstatSync(p);
    if (!st.isFile() || st.uid !== base || st.gid !== base || (st.mode & 0o7000) !== 0 || st.nlink !== 1) {
      throw new VzError('INVALID', `${archive}: refused: checkpoint/${e} is not a plain file of the container's root`, { hint: 'the archive was not restored' });
    }
    fs.chownSync(p, 0, 0);
    fs.chmodSync(p, st.mode & 0o600);
  }
  fs.chownSync(dir, 0, 0);
  fs.chmodSync(dir, 0o700);
}
