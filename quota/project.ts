/**
 * ext4 and XFS project quotas (what vzquota gave OpenVZ and what Incus's dir driver uses): a
 * container's private area is a directory tree whose inodes all carry one project ID, and the
 * file system enforces a block and an inode limit on that project.
 *
 * - setProject() stamps the project ID (and, on directories, PROJINHERIT) on a tree; every inode
 *   created later below a PROJINHERIT directory gets the directory's project ID from the kernel,
 *   whatever its type (files, directories, symlinks, device nodes, FIFOs, sockets).
 * - setLimits()/getQuota()/clearProject() use quotactl(2) with the generic VFS interface
 *   (Q_SETQUOTA/Q_GETQUOTA, struct if_dqblk, PRJQUOTA) on BOTH file systems: XFS implements the
 *   generic ->get_dqblk/->set_dqblk quotactl_ops, so one code path serves both. The XFS
 *   interface (Q_XGETQUOTA/Q_XSETQLIM, struct fs_disk_quota) is exported as xfsGetQuota /
 *   xfsSetLimits (it works on ext4 too); the tests cross-check the two.
 * - Grace periods are per file system and quota type, not per project, on both ext4 (the
 *   quota file's info block) and XFS (the default dquot): setGrace() changes them for every
 *   project on that file system.
 *
 * Kernel facts this relies on (measured: see quota/README.md):
 * - ext4 needs the `project` and `quota` features (mkfs.ext4 -O quota,project; inodes of 256
 *   bytes) and `-o prjquota` to ENFORCE (the quota feature alone only accounts). A kernel
 *   without CONFIG_QFMT_V2 refuses to mount such an ext4 read-write at all.
 * - XFS needs `-o prjquota` (or pquota; `pqnoenforce` only accounts) and CONFIG_XFS_QUOTA.
 * - rename(2)/link(2) into a PROJINHERIT directory of another project fail with EXDEV (mv falls
 *   back to copy+unlink): move a private area into place before setProject(), never after.
 *
 * The quotactl "special" argument is the block device (e.g. /dev/loop3) of the mounted fs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { errnoError } from '../src/sys/libc.js';
import { VzError, systemError, type ErrorCodeName } from '../src/base/errors.js';
import { devNumbers, parseMountinfo, type MountInfo } from '../src/sys/mounts.js';

export { parseMountinfo, type MountInfo };
import {
  qcmd,
  quotactlRaw,
  PRJQUOTA,
  Q_GETQUOTA,
  Q_SETQUOTA,
  Q_GETINFO,
  Q_SETINFO,
  Q_XGETQUOTA,
  Q_XSETQLIM,
  Q_XGETQSTAT,
  QIF_DQBLKSIZE,
  QIF_LIMITS,
  IF_DQBLK_SIZE,
  IF_DQINFO_SIZE,
  IIF_BGRACE,
  IIF_IGRACE,
  encodeIfDqblk,
  decodeIfDqblk,
  encodeIfDqinfo,
  decodeIfDqinfo,
  BBSIZE,
  FS_DQUOT_VERSION,
  FS_PROJ_QUOTA,
  FS_DQ_LIMITS,
  FS_DISK_QUOTA_SIZE,
  encodeFsDiskQuota,
  decodeFsDiskQuota,
  FS_QUOTA_STAT_SIZE,
  FS_QUOTA_PDQ_ACCT,
  FS_QUOTA_PDQ_ENFD,
  decodeFsQuotaStat,
} from '../src/sys/quotactl.js';
import { FS_XFLAG_PROJINHERIT, fsGetXattr, fsSetXattr, fileGetattr, fileSetattr } from '../src/sys/fsattr.js';
import { openat2Raw, O_CLOEXEC, O_PATH, RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV } from '../src/sys/openat2.js';
import { EXT4_SB_OFFSET, decodeExt4Features } from './ext4.js';

export type QuotaFs = 'ext4' | 'xfs';

export type QuotaSupport =
  | { ok: true; fs: QuotaFs; device: string; mountPoint: string }
  | { ok: false; reason: string; fs?: string; device?: string; mountPoint?: string };

/** Limits in bytes and inodes; 0 or omitted = no limit. */
export interface QuotaLimits {
  bytesSoft?: number;
  bytesHard?: number;
  inodesSoft?: number;
  inodesHard?: number;
  /** Sets the file system's project grace period (blocks and inodes): see setGrace(). */
  graceSeconds?: number;
}

export interface ProjectQuota {
  bytesUsed: number;
  bytesSoft: number;
  bytesHard: number;
  inodesUsed: number;
  inodesSoft: number;
  inodesHard: number;
  /** Unix seconds at which the soft-limit grace ends; set only while usage is over the soft limit. */
  bytesGraceExpires?: number;
  inodesGraceExpires?: number;
}

export interface GracePeriods {
  bytesSeconds: number;
  inodesSeconds: number;
}

export const PROJID_MIN = 1;
export const PROJID_MAX = 2 ** 32 - 2; // 0 is the default project, 2^32-1 is (qid_t)-1

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY, O_NOATIME } = fs.constants;

// ---- validation --------------------------------------------------------------------------------

export function validateProjectId(projid: number): void {
  if (!Number.isInteger(projid) || projid < PROJID_MIN || projid > PROJID_MAX) {
    throw new VzError('INVALID', `invalid project ID ${projid}: must be an integer in ${PROJID_MIN}..${PROJID_MAX}`);
  }
}

function validateCount(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0) throw new VzError('INVALID', `invalid ${name} ${v}: must be a non-negative integer`);
  return v;
}

function validateLimits(l: QuotaLimits): Required<Omit<QuotaLimits, 'graceSeconds'>> {
  const out = {
    bytesSoft: validateCount('bytesSoft', l.bytesSoft),
    bytesHard: validateCount('bytesHard', l.bytesHard),
    inodesSoft: validateCount('inodesSoft', l.inodesSoft),
    inodesHard: validateCount('inodesHard', l.inodesHard),
  };
  if (out.bytesSoft && out.bytesHard && out.bytesSoft > out.bytesHard) {
    throw new VzError('INVALID', `disk space soft limit ${out.bytesSoft} is above the hard limit ${out.bytesHard}`);
  }
  if (out.inodesSoft && out.inodesHard && out.inodesSoft > out.inodesHard) {
    throw new VzError('INVALID', `inode soft limit ${out.inodesSoft} is above the hard limit ${out.inodesHard}`);
  }
  return out;
}

/** Bytes to the 1 KiB blocks of if_dqblk, rounded up: a limit is never made smaller than asked. */
export function bytesToQuotaBlocks(bytes: number): bigint {
  return (BigInt(bytes) + BigInt(QIF_DQBLKSIZE - 1)) / BigInt(QIF_DQBLKSIZE);
}

/** Bytes to XFS 512-byte basic blocks, rounded up. */
export function bytesToBasicBlocks(bytes: number): bigint {
  return (BigInt(bytes) + BigInt(BBSIZE - 1)) / BigInt(BBSIZE);
}

const E = os.constants.errno;

function quotactlError(what: string, device: string, fsType: string, errno: number): VzError {
  const where = `${device} (${fsType})`;
  let code: ErrorCodeName = 'SYSTEM';
  let msg: string;
  switch (errno) {
    case E.ENOSYS:
      code = 'UNSUPPORTED';
      msg = `quotas are not supported on ${where} by this kernel${fsType === 'xfs' ? ' (built without CONFIG_XFS_QUOTA)' : ' (needs CONFIG_QUOTA and CONFIG_QFMT_V2)'}`;
      break;
    case E.ESRCH:
      code = 'UNSUPPORTED';
      msg = `project quotas are not enabled on ${where}: mount it with -o prjquota`;
      break;
    case E.ENOENT:
    case 15: // ENOTBLK (missing from os.constants.errno)
    case E.ENODEV:
      msg = `${what}: ${device} is not the block device of a mounted file system`;
      break;
    case E.EPERM:
    case E.EACCES:
      msg = `${what} on ${where}: permission denied (needs root)`;
      break;
    case E.ERANGE:
      code = 'INVALID';
      msg = `${what} on ${where}: limit out of range for ${fsType}`;
      break;
    default:
      return systemError(`${what} on ${where}`, errnoError('quotactl', errno, device));
  }
  return new VzError(code, msg, { cause: errnoError('quotactl', errno, device) });
}

function quotactl(what: string, cmd: number, device: string, fsType: string, id: number, buf: Buffer | null): void {
  const errno = quotactlRaw(cmd, device, id, buf);
  if (!errno) return;
  // ENOSYS is ambiguous: no quota support in the kernel for this fs, but also XFS's
  // get/set_dqblk with quotas off and Q_XGETQSTAT with no quota type on. Q_GETINFO tells them
  // apart: ENOSYS only without quota support, ESRCH when project quotas are off.
  if (errno === E.ENOSYS && quotactlRaw(qcmd(Q_GETINFO, PRJQUOTA), device, 0, Buffer.alloc(IF_DQINFO_SIZE)) === E.ESRCH) {
    const e = quotactlError(what, device, fsType, E.ESRCH);
    throw new VzError(e.code, e.message, { cause: errnoError('quotactl', errno, device) });
  }
  throw quotactlError(what, device, fsType, errno);
}

// ---- detection ---------------------------------------------------------------------------------

function isBlockDevice(p: string): boolean {
  try {
    return fs.statSync(p).isBlockDevice();
  } catch {
    return false;
  }
}

function devMajorMinor(dev: bigint): string {
  const { major, minor } = devNumbers(dev);
  return `${major}:${minor}`;
}

/** The mount that holds `p`: same device, deepest mount point that is a prefix of the path. */
export function findMount(p: string): MountInfo | undefined {
  const real = fs.realpathSync(p);
  const mm = devMajorMinor(fs.statSync(real, { bigint: true }).dev);
  const within = (mp: string): boolean => mp === '/' || real === mp || real.startsWith(mp + '/');
  const all = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  const same = all.filter((m) => m.majorMinor === mm);
  const best = (list: MountInfo[]): MountInfo | undefined =>
    list.filter((m) => within(m.mountPoint)).sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
  return best(same) ?? same[0];
}

/** A path to the block device of a mount: its source if that is the device node, else /dev/block/M:m. */
export function blockDeviceOf(m: MountInfo): string | undefined {
  const isIt = (p: string): boolean => {
    try {
      const st = fs.statSync(p, { bigint: true });
      return st.isBlockDevice() && devMajorMinor(st.rdev) === m.majorMinor;
    } catch {
      return false;
    }
  };
  if (m.source.startsWith('/') && isIt(m.source)) return m.source;
  const byNum = `/dev/block/${m.majorMinor}`;
  if (isIt(byNum)) return byNum;
  try {
    const name = /^DEVNAME=(.+)$/m.exec(fs.readFileSync(`/sys/dev/block/${m.majorMinor}/uevent`, 'utf8'))?.[1];
    if (name && isIt(`/dev/${name}`)) return `/dev/${name}`;
  } catch {}
  return m.source.startsWith('/') ? m.source : undefined;
}

/** CONFIG_ values of the running kernel, when it publishes its config (/proc/config.gz or /boot). */
export function kernelConfig(): Map<string, string> | undefined {
  let text: string | undefined;
  try {
    text = zlib.gunzipSync(fs.readFileSync('/proc/config.gz')).toString('utf8');
  } catch {
    try {
      text = fs.readFileSync(`/boot/config-${os.release()}`, 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const hit = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (hit) m.set(hit[1]!, hit[2]!);
  }
  return m;
}

/** Why the running kernel cannot do project quotas on `fsType`, if its config says so. */
export function kernelQuotaGap(fsType: QuotaFs): string | undefined {
  const cfg = kernelConfig();
  if (!cfg) return undefined;
  const on = (k: string): boolean => cfg.get(k) === 'y' || cfg.get(k) === 'm';
  if (!on('CONFIG_QUOTA')) return 'this kernel is built without CONFIG_QUOTA';
  if (fsType === 'ext4' && !on('CONFIG_QFMT_V2')) {
    return 'this kernel is built without CONFIG_QFMT_V2, so it cannot mount an ext4 with the quota or project feature read-write';
  }
  if (fsType === 'xfs' && !on('CONFIG_XFS_QUOTA')) return 'this kernel is built without CONFIG_XFS_QUOTA';
  return undefined;
}

export interface QuotaState {
  accounting: boolean;
  enforced: boolean;
  /** The file system's project grace periods, in seconds. */
  bytesGrace: number;
  inodesGrace: number;
}

/** Q_XGETQSTAT for project quotas (works on ext4 and XFS; needs no privilege). */
export function quotaState(device: string, fsType: QuotaFs): QuotaState {
  const buf = Buffer.alloc(FS_QUOTA_STAT_SIZE);
  const errno = quotactlRaw(qcmd(Q_XGETQSTAT, PRJQUOTA), device, 0, buf);
  if (errno) {
    // ENOSYS also when no quota type is on at all; Q_GETINFO's ESRCH says that is the case.
    if (errno === E.ENOSYS && quotactlRaw(qcmd(Q_GETINFO, PRJQUOTA), device, 0, Buffer.alloc(IF_DQINFO_SIZE)) === E.ESRCH) {
      return { accounting: false, enforced: false, bytesGrace: 0, inodesGrace: 0 };
    }
    throw quotactlError('reading the quota state', device, fsType, errno);
  }
  const s = decodeFsQuotaStat(buf);
  return {
    accounting: (s.flags & FS_QUOTA_PDQ_ACCT) !== 0,
    enforced: (s.flags & FS_QUOTA_PDQ_ENFD) !== 0,
    bytesGrace: s.btimelimit,
    inodesGrace: s.itimelimit,
  };
}

function readExt4Features(device: string): ReturnType<typeof decodeExt4Features> | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(device, 'r');
    const sb = Buffer.alloc(1024);
    fs.readSync(fd, sb, 0, 1024, EXT4_SB_OFFSET);
    return decodeExt4Features(sb);
  } catch {
    return undefined; // not root: the quotactl probe still answers
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Whether the file system under `p` enforces project quotas, and if not, what to change. Never
 * throws for an unsupported setup: the reason is a one-line, actionable sentence.
 */
export function projectQuotaSupport(p: string): QuotaSupport {
  let m: MountInfo | undefined;
  try {
    m = findMount(p);
  } catch (e) {
    return { ok: false, reason: `cannot inspect ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  if (!m) return { ok: false, reason: `no mount found for ${p} in /proc/self/mountinfo` };
  const base = { fs: m.fsType, mountPoint: m.mountPoint };
  if (m.fsType !== 'ext4' && m.fsType !== 'xfs') {
    return { ok: false, ...base, reason: `${p} is on ${m.fsType} (${m.mountPoint}); project quotas need ext4 or XFS` };
  }
  const fsType: QuotaFs = m.fsType;
  const device = blockDeviceOf(m);
  if (!device) return { ok: false, ...base, reason: `no block device node found for ${m.source} (${m.majorMinor})` };
  const where = `${device} (${fsType})`;
  const gap = (): string => {
    const g = kernelQuotaGap(fsType);
    return g ? `; note: ${g}` : '';
  };

  if (fsType === 'ext4') {
    const feat = readExt4Features(device);
    if (feat?.magic && (!feat.project || !feat.quota)) {
      const missing = [!feat.project && 'project', !feat.quota && 'quota'].filter(Boolean).join(' and ');
      const inode = feat.inodeSize < 256 ? ` (its ${feat.inodeSize}-byte inodes cannot hold project IDs: recreate it with mkfs.ext4 -I 256 -O quota,project)` : '';
      return {
        ok: false,
        ...base,
        device,
        reason: `${where} lacks the ${missing} feature${missing.includes(' and ') ? 's' : ''}: unmount it and run tune2fs -O project,quota ${device}, or create it with mkfs.ext4 -O quota,project${inode}${gap()}`,
      };
    }
  }
  const opts = m.superOptions;
  const enforcedOpt = fsType === 'ext4' ? opts.includes('prjquota') : opts.some((o) => o === 'prjquota' || o === 'pquota' || o === 'pqenforce');
  // Q_GETINFO answers on both file systems: ENOSYS = no quota support for this fs in the
  // kernel, ESRCH = project quotas off. Q_XGETQSTAT then tells accounting from enforcement.
  const errno = quotactlRaw(qcmd(Q_GETINFO, PRJQUOTA), device, 0, Buffer.alloc(IF_DQINFO_SIZE));
  if (errno === E.ENOSYS) {
    const g = kernelQuotaGap(fsType);
    return { ok: false, ...base, device, reason: g ? `no project quotas on ${where}: ${g}` : quotactlError('probing quotas', device, fsType, errno).message };
  }
  let enforced = enforcedOpt && errno === 0;
  if (enforced) {
    try {
      enforced = quotaState(device, fsType).enforced;
    } catch {} // Q_XGETQSTAT unavailable: the mount option and Q_GETINFO must do
  }
  if (!enforced) {
    if (errno && errno !== E.ESRCH) return { ok: false, ...base, device, reason: quotactlError('probing quotas', device, fsType, errno).message };
    const acctOnly = fsType === 'xfs' && opts.includes('pqnoenforce') ? ' (pqnoenforce only accounts)' : '';
    return { ok: false, ...base, device, reason: `project quotas are not enabled on ${where}: mount it with -o prjquota${acctOnly}${gap()}` };
  }
  return { ok: true, fs: fsType, device, mountPoint: m.mountPoint };
}

// ---- project IDs on inodes ---------------------------------------------------------------------

export interface SetProjectResult {
  /** Inodes now in the project (files and directories, plus special files where the kernel allows). */
  inodes: number;
  /** Inodes left alone: symlinks, device nodes, FIFOs and sockets the kernel cannot stamp, mount points. */
  skipped: number;
}

/** Opens for the ioctl the inode an O_PATH fd refers to (no path lookup, so no race). */
function reopen(pathFd: number, dir: boolean): number {
  const p = `/proc/self/fd/${pathFd}`;
  const flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | (dir ? O_DIRECTORY : 0);
  try {
    return fs.openSync(p, flags | O_NOATIME);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    return fs.openSync(p, flags); // O_NOATIME needs ownership or CAP_FOWNER
  }
}

function setProjectError(p: string, errno: number): VzError {
  const cause = errnoError('ioctl(FS_IOC_FSSETXATTR)', errno, p);
  if (errno === E.EOPNOTSUPP || errno === E.ENOTTY) {
    return new VzError('UNSUPPORTED', `cannot set a project ID on ${p}: the file system has no project ID support (ext4 needs mkfs.ext4 -O quota,project or tune2fs -O project,quota)`, { cause });
  }
  if (errno === E.EPERM) return new VzError('SYSTEM', `cannot set a project ID on ${p}: EPERM (immutable or append-only file? see lsattr)`, { cause });
  if (errno === E.EOVERFLOW) return new VzError('UNSUPPORTED', `cannot set a project ID on ${p}: its inodes are too small (ext4 needs 256-byte inodes)`, { cause });
  return systemError(`cannot set a project ID on ${p}`, cause);
}

/**
 * Sets projid (and PROJINHERIT on directories) on the inode behind an O_PATH fd; special files
 * go by name in their parent (`at`), as file_setattr(2) cannot take an O_PATH fd.
 */
function stampInode(pathFd: number, st: fs.Stats, projid: number, display: string, at?: { dirFd: number; name: string }): 'set' | 'skipped' {
  if (st.isFile() || st.isDirectory()) {
    const fd = reopen(pathFd, st.isDirectory());
    try {
      const got = fsGetXattr(fd);
      if (!got.attr) throw setProjectError(display, got.errno);
      const cur = got.attr;
      const xflags = st.isDirectory() ? cur.xflags | FS_XFLAG_PROJINHERIT : cur.xflags;
      if (cur.projid === projid && cur.xflags === xflags) return 'set';
      const errno = fsSetXattr(fd, { ...cur, xflags, projid });
      if (errno) throw setProjectError(display, errno);
      return 'set';
    } finally {
      fs.closeSync(fd);
    }
  }
  // Symlinks and special files: no fd can be opened for the ioctl without following the link or
  // calling a driver's open(). Linux 6.17+ has file_setattr(2), which takes an O_PATH fd.
  // A name swapped meanwhile can only make this stamp another inode of the same directory.
  if (!at) return 'skipped';
  const got = fileGetattr(at.dirFd, at.name);
  if (got.errno || !got.attr) return 'skipped'; // ENOSYS (old kernel), EOPNOTSUPP (fs refuses), ...
  if (got.attr.projid === projid) return 'set';
  return fileSetattr(at.dirFd, at.name, { ...got.attr, projid }) === 0 ? 'set' : 'skipped';
}

/**
 * Puts `dir` and everything below it into project `projid`: the project ID on every file and
 * directory, PROJINHERIT on every directory, so whatever is created later inherits it.
 *
 * The walk never follows a symlink and never leaves the file system: each entry is opened with
 * openat2(O_PATH|O_NOFOLLOW, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV) relative to its
 * parent's fd, and only an O_PATH fd's own inode is reopened (through /proc/self/fd) for the
 * FS_IOC_FSSETXATTR ioctl - so a container that swaps names for symlinks while this runs can at
 * worst redirect the walk to other inodes of its own tree. Mount points below `dir` are skipped.
 *
 * Symlinks, device nodes, FIFOs and sockets: the ioctl needs an fd opened for reading, which a
 * symlink cannot give (O_PATH fds refuse ioctls) and a device node must not (open runs the
 * driver). Like `chattr -p -R` and `xfs_quota -x -c 'project -s'` before 6.17, those inodes keep
 * their old project ID (usually 0) and count against that project, not the container's - one
 * inode each and, for ext4 symlinks longer than 59 bytes, one block. On Linux 6.17+ they are
 * stamped through file_setattr(2) where the file system allows it (XFS does: measured on 6.18).
 * New inodes of every type created under a PROJINHERIT directory get the project ID anyway.
 */
export function setProject(dir: string, projid: number): SetProjectResult {
  validateProjectId(projid);
  const result: SetProjectResult = { inodes: 0, skipped: 0 };
  let top: number;
  try {
    top = fs.openSync(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  } catch (e) {
    throw systemError(`cannot open ${dir}`, e);
  }
  const stack: Array<{ fd: number; path: string; names: fs.Dirent[]; i: number }> = [];
  const count = (r: 'set' | 'skipped'): void => void (r === 'set' ? result.inodes++ : result.skipped++);
  const list = (fd: number, p: string): fs.Dirent[] => {
    try {
      return fs.readdirSync(`/proc/self/fd/${fd}`, { withFileTypes: true });
    } catch (e) {
      throw systemError(`cannot list ${p}`, e);
    }
  };
  try {
    count(stampInode(top, fs.fstatSync(top), projid, dir));
    stack.push({ fd: top, path: dir, names: list(top, dir), i: 0 });
    while (stack.length) {
      const cur = stack[stack.length - 1]!;
      if (cur.i >= cur.names.length) {
        stack.pop();
        fs.closeSync(cur.fd);
        continue;
      }
      const name = cur.names[cur.i++]!.name;
      const childPath = path.join(cur.path, name);
      const fd = openat2Raw(cur.fd, name, { flags: O_PATH | O_NOFOLLOW, resolve: RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV });
      if (fd < 0) {
        if (-fd === E.ENOENT) continue; // removed meanwhile
        if (-fd === E.EXDEV) {
          result.skipped++; // a mount point: another file system
          continue;
        }
        throw systemError(`cannot open ${childPath}`, errnoError('openat2', -fd, childPath));
      }
      let keep = false;
      try {
        const st = fs.fstatSync(fd);
        count(stampInode(fd, st, projid, childPath, { dirFd: cur.fd, name }));
        if (st.isDirectory()) {
          stack.push({ fd, path: childPath, names: list(fd, childPath), i: 0 });
          keep = true;
        }
      } finally {
        if (!keep) fs.closeSync(fd);
      }
    }
  } catch (e) {
    for (const s of stack) fs.closeSync(s.fd);
    if (!stack.some((s) => s.fd === top)) {
      try {
        fs.closeSync(top);
      } catch {}
    }
    throw e;
  }
  return result;
}

/** The project ID of one inode (and whether it has PROJINHERIT); undefined where the kernel cannot tell. */
export function getProject(p: string): { projid: number; inherit: boolean } | undefined {
  const fd = fs.openSync(p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  try {
    const st = fs.fstatSync(fd);
    if (st.isFile() || st.isDirectory()) {
      const rfd = reopen(fd, st.isDirectory());
      try {
        const got = fsGetXattr(rfd);
        if (!got.attr) throw systemError(`cannot read the project ID of ${p}`, errnoError('ioctl(FS_IOC_FSGETXATTR)', got.errno, p));
        const x = got.attr;
        return { projid: x.projid, inherit: (x.xflags & FS_XFLAG_PROJINHERIT) !== 0 };
      } finally {
        fs.closeSync(rfd);
      }
    }
    const parent = fs.openSync(path.dirname(p), O_PATH | O_DIRECTORY | O_CLOEXEC);
    let got: ReturnType<typeof fileGetattr>;
    try {
      got = fileGetattr(parent, path.basename(p));
    } finally {
      fs.closeSync(parent);
    }
    return got.attr ? { projid: got.attr.projid, inherit: (got.attr.xflags & FS_XFLAG_PROJINHERIT) !== 0 } : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

// ---- limits (generic VFS interface: ext4 and XFS) ----------------------------------------------

/**
 * Sets the project's limits (all four at once; 0 or omitted = unlimited). Takes effect at once,
 * also for a mounted, running container. graceSeconds, if given, sets the file system's
 * project grace period (setGrace), which applies to EVERY project on that file system.
 */
export function setLimits(device: string, fsType: QuotaFs, projid: number, limits: QuotaLimits): void {
  validateProjectId(projid);
  const l = validateLimits(limits);
  requireEnforcement(device, fsType);
  setDqblk(device, fsType, projid, l);
  if (limits.graceSeconds !== undefined) setGrace(device, fsType, { bytesSeconds: limits.graceSeconds, inodesSeconds: limits.graceSeconds });
}

/**
 * An ext4 with the quota feature accounts every project even when mounted without prjquota, and
 * takes limits then - without applying them. A limit that would not hold is an error here.
 */
function requireEnforcement(device: string, fsType: QuotaFs): void {
  const st = quotaState(device, fsType);
  if (!st.enforced) {
    const what = st.accounting ? 'accounted but not enforced' : 'not enabled';
    throw new VzError('UNSUPPORTED', `project quotas are ${what} on ${device} (${fsType}): mount it with -o prjquota`);
  }
}

function setDqblk(device: string, fsType: QuotaFs, projid: number, l: ReturnType<typeof validateLimits>): void {
  const buf = encodeIfDqblk({
    bhardlimit: bytesToQuotaBlocks(l.bytesHard),
    bsoftlimit: bytesToQuotaBlocks(l.bytesSoft),
    curspace: 0n,
    ihardlimit: BigInt(l.inodesHard),
    isoftlimit: BigInt(l.inodesSoft),
    curinodes: 0n,
    btime: 0n,
    itime: 0n,
    valid: QIF_LIMITS,
  });
  quotactl(`setting the limits of project ${projid}`, qcmd(Q_SETQUOTA, PRJQUOTA), device, fsType, projid, buf);
}

export function getQuota(device: string, fsType: QuotaFs, projid: number): ProjectQuota {
  validateProjectId(projid);
  const buf = Buffer.alloc(IF_DQBLK_SIZE);
  const errno = quotactlRaw(qcmd(Q_GETQUOTA, PRJQUOTA), device, projid, buf);
  // XFS has no dquot for a project that never held an inode or a limit: ENOENT, i.e. all zero.
  if (errno === E.ENOENT && fsType === 'xfs' && isBlockDevice(device)) buf.fill(0);
  else if (errno) quotactl(`reading the quota of project ${projid}`, qcmd(Q_GETQUOTA, PRJQUOTA), device, fsType, projid, buf);
  const q = decodeIfDqblk(buf);
  const out: ProjectQuota = {
    bytesUsed: Number(q.curspace),
    bytesSoft: Number(q.bsoftlimit) * QIF_DQBLKSIZE,
    bytesHard: Number(q.bhardlimit) * QIF_DQBLKSIZE,
    inodesUsed: Number(q.curinodes),
    inodesSoft: Number(q.isoftlimit),
    inodesHard: Number(q.ihardlimit),
  };
  if (q.btime) out.bytesGraceExpires = Number(q.btime);
  if (q.itime) out.inodesGraceExpires = Number(q.itime);
  return out;
}

/**
 * Drops every limit of the project (usage accounting goes on while inodes still carry the ID).
 * For destroy: returns false instead of throwing when the file system has quotas off or the
 * kernel has none (there is then nothing to enforce), true once the limits are cleared.
 */
export function clearProject(device: string, fsType: QuotaFs, projid: number): boolean {
  validateProjectId(projid);
  try {
    setDqblk(device, fsType, projid, validateLimits({}));
    return true;
  } catch (e) {
    const code = ((e as VzError).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ESRCH' || code === 'ENOSYS') return false;
    throw e;
  }
}

/** The file system's project grace periods (Q_GETINFO). */
export function getGrace(device: string, fsType: QuotaFs): GracePeriods {
  const buf = Buffer.alloc(IF_DQINFO_SIZE);
  quotactl('reading the quota grace periods', qcmd(Q_GETINFO, PRJQUOTA), device, fsType, 0, buf);
  const i = decodeIfDqinfo(buf);
  return { bytesSeconds: Number(i.bgrace), inodesSeconds: Number(i.igrace) };
}

/**
 * Sets how long usage may stay above a soft limit before writes fail (Q_SETINFO). Per file
 * system and quota type on both ext4 and XFS: this changes it for every project there. Seconds
 * must be >= 1: ext4 takes 0 literally (soft = hard) while XFS reads 0 as "default" (7 days).
 */
export function setGrace(device: string, fsType: QuotaFs, g: Partial<GracePeriods>): void {
  let valid = 0;
  for (const [k, v] of Object.entries(g)) {
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 1 || v > 2 ** 31 - 1) throw new VzError('INVALID', `invalid grace period ${k}=${v}: must be 1..${2 ** 31 - 1} seconds`);
  }
  if (g.bytesSeconds !== undefined) valid |= IIF_BGRACE;
  if (g.inodesSeconds !== undefined) valid |= IIF_IGRACE;
  if (!valid) return;
  const buf = encodeIfDqinfo({ bgrace: BigInt(g.bytesSeconds ?? 0), igrace: BigInt(g.inodesSeconds ?? 0), flags: 0, valid });
  quotactl('setting the quota grace periods', qcmd(Q_SETINFO, PRJQUOTA), device, fsType, 0, buf);
}

// ---- the XFS quotactl interface (also served by ext4) ------------------------------------------

/** Q_XGETQUOTA: the same numbers as getQuota(), read through struct fs_disk_quota. */
export function xfsGetQuota(device: string, fsType: QuotaFs, projid: number): ProjectQuota {
  validateProjectId(projid);
  const buf = Buffer.alloc(FS_DISK_QUOTA_SIZE);
  quotactl(`reading the quota of project ${projid}`, qcmd(Q_XGETQUOTA, PRJQUOTA), device, fsType, projid, buf);
  const d = decodeFsDiskQuota(buf);
  const out: ProjectQuota = {
    bytesUsed: Number(d.bcount) * BBSIZE,
    bytesSoft: Number(d.blkSoftlimit) * BBSIZE,
    bytesHard: Number(d.blkHardlimit) * BBSIZE,
    inodesUsed: Number(d.icount),
    inodesSoft: Number(d.inoSoftlimit),
    inodesHard: Number(d.inoHardlimit),
  };
  if (d.btimer) out.bytesGraceExpires = d.btimer;
  if (d.itimer) out.inodesGraceExpires = d.itimer;
  return out;
}

/** Q_XSETQLIM: setLimits() through struct fs_disk_quota (limits in 512-byte basic blocks). */
export function xfsSetLimits(device: string, fsType: QuotaFs, projid: number, limits: QuotaLimits): void {
  validateProjectId(projid);
  const l = validateLimits(limits);
  requireEnforcement(device, fsType);
  const buf = encodeFsDiskQuota({
    version: FS_DQUOT_VERSION,
    flags: FS_PROJ_QUOTA,
    fieldmask: FS_DQ_LIMITS,
    id: projid,
    blkHardlimit: bytesToBasicBlocks(l.bytesHard),
    blkSoftlimit: bytesToBasicBlocks(l.bytesSoft),
    inoHardlimit: BigInt(l.inodesHard),
    inoSoftlimit: BigInt(l.inodesSoft),
    bcount: 0n,
    icount: 0n,
    itimer: 0,
    btimer: 0,
    iwarns: 0,
    bwarns: 0,
  });
  quotactl(`setting the limits of project ${projid}`, qcmd(Q_XSETQLIM, PRJQUOTA), device, fsType, projid, buf);
  if (limits.graceSeconds !== undefined) setGrace(device, fsType, { bytesSeconds: limits.graceSeconds, inodesSeconds: limits.graceSeconds });
}
