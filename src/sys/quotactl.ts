/**
 * The kernel structures and command numbers of project quotas, as plain byte layouts (x86_64 and
 * every other 64-bit Linux ABI: these structs have only fixed-width fields). Pure functions, no
 * FFI, so they are unit-tested against hand-computed bytes. Sources: <linux/quota.h>,
 * <linux/dqblk_xfs.h>, <linux/fs.h>; sizes and offsets checked with gcc against the headers.
 */

// ---- quotactl(2) command numbers -------------------------------------------------------------

/** <linux/quota.h>: QCMD(cmd, type) = (cmd << SUBCMDSHIFT) | (type & SUBCMDMASK). */
export const SUBCMDSHIFT = 8;
export const SUBCMDMASK = 0xff;
export const USRQUOTA = 0;
export const GRPQUOTA = 1;
export const PRJQUOTA = 2; // also XQM_PRJQUOTA

export const Q_GETINFO = 0x800005;
export const Q_SETINFO = 0x800006;
export const Q_GETQUOTA = 0x800007;
export const Q_SETQUOTA = 0x800008;

/** <linux/dqblk_xfs.h>: XQM_CMD(x) = ('X' << 8) + x. */
export const XQM_CMD = (x: number): number => (0x58 << 8) + x;
export const Q_XGETQUOTA = XQM_CMD(3);
export const Q_XSETQLIM = XQM_CMD(4);
export const Q_XGETQSTAT = XQM_CMD(5);

/**
 * The `cmd` argument of quotactl(2) as the C `int` it is: QCMD(Q_GETQUOTA, PRJQUOTA) is
 * 0x80000702, which does not fit a signed int, so it is passed as its two's-complement value.
 */
export function qcmd(cmd: number, type: number): number {
  return ((cmd << SUBCMDSHIFT) | (type & SUBCMDMASK)) | 0;
}

// ---- struct if_dqblk (Q_GETQUOTA / Q_SETQUOTA), 72 bytes -------------------------------------

/** Limits in if_dqblk are in QIF_DQBLKSIZE (1 KiB) blocks; dqb_curspace is in bytes. */
export const QIF_DQBLKSIZE = 1024;
export const QIF_BLIMITS = 1;
export const QIF_SPACE = 2;
export const QIF_ILIMITS = 4;
export const QIF_INODES = 8;
export const QIF_BTIME = 16;
export const QIF_ITIME = 32;
export const QIF_LIMITS = QIF_BLIMITS | QIF_ILIMITS;
export const QIF_USAGE = QIF_SPACE | QIF_INODES;
export const QIF_TIMES = QIF_BTIME | QIF_ITIME;
export const QIF_ALL = QIF_LIMITS | QIF_USAGE | QIF_TIMES;
export const IF_DQBLK_SIZE = 72;

export interface IfDqblk {
  bhardlimit: bigint; // 1 KiB blocks, 0 = none
  bsoftlimit: bigint;
  curspace: bigint; // bytes
  ihardlimit: bigint;
  isoftlimit: bigint;
  curinodes: bigint;
  btime: bigint; // Unix seconds when the block grace ends; 0 = under the soft limit
  itime: bigint;
  valid: number; // QIF_* mask
}

export function encodeIfDqblk(q: IfDqblk): Buffer {
  const b = Buffer.alloc(IF_DQBLK_SIZE);
  b.writeBigUInt64LE(q.bhardlimit, 0);
  b.writeBigUInt64LE(q.bsoftlimit, 8);
  b.writeBigUInt64LE(q.curspace, 16);
  b.writeBigUInt64LE(q.ihardlimit, 24);
  b.writeBigUInt64LE(q.isoftlimit, 32);
  b.writeBigUInt64LE(q.curinodes, 40);
  b.writeBigUInt64LE(q.btime, 48);
  b.writeBigUInt64LE(q.itime, 56);
  b.writeUInt32LE(q.valid >>> 0, 64);
  return b; // bytes 68..71: tail padding, zero
}

export function decodeIfDqblk(b: Buffer): IfDqblk {
  if (b.length < IF_DQBLK_SIZE) throw new RangeError(`if_dqblk needs ${IF_DQBLK_SIZE} bytes, got ${b.length}`);
  return {
    bhardlimit: b.readBigUInt64LE(0),
    bsoftlimit: b.readBigUInt64LE(8),
    curspace: b.readBigUInt64LE(16),
    ihardlimit: b.readBigUInt64LE(24),
    isoftlimit: b.readBigUInt64LE(32),
    curinodes: b.readBigUInt64LE(40),
    btime: b.readBigUInt64LE(48),
    itime: b.readBigUInt64LE(56),
    valid: b.readUInt32LE(64),
  };
}

// ---- struct if_dqinfo (Q_GETINFO / Q_SETINFO), 24 bytes --------------------------------------

export const IIF_BGRACE = 1;
export const IIF_IGRACE = 2;
export const IIF_FLAGS = 4;
export const IF_DQINFO_SIZE = 24;

export interface IfDqinfo {
  bgrace: bigint; // seconds
  igrace: bigint;
  flags: number; // DQF_*
  valid: number; // IIF_* mask
}

export function encodeIfDqinfo(i: IfDqinfo): Buffer {
  const b = Buffer.alloc(IF_DQINFO_SIZE);
  b.writeBigUInt64LE(i.bgrace, 0);
  b.writeBigUInt64LE(i.igrace, 8);
  b.writeUInt32LE(i.flags >>> 0, 16);
  b.writeUInt32LE(i.valid >>> 0, 20);
  return b;
}

export function decodeIfDqinfo(b: Buffer): IfDqinfo {
  if (b.length < IF_DQINFO_SIZE) throw new RangeError(`if_dqinfo needs ${IF_DQINFO_SIZE} bytes, got ${b.length}`);
  return { bgrace: b.readBigUInt64LE(0), igrace: b.readBigUInt64LE(8), flags: b.readUInt32LE(16), valid: b.readUInt32LE(20) };
}

// ---- struct fs_disk_quota (Q_XGETQUOTA / Q_XSETQLIM), 112 bytes ------------------------------

/** XFS "basic blocks": d_blk_* and d_bcount are in 512-byte units. */
export const BBSIZE = 512;
export const FS_DQUOT_VERSION = 1;
export const FS_USER_QUOTA = 1 << 0;
export const FS_PROJ_QUOTA = 1 << 1;
export const FS_GROUP_QUOTA = 1 << 2;
export const FS_DQ_ISOFT = 1 << 0;
export const FS_DQ_IHARD = 1 << 1;
export const FS_DQ_BSOFT = 1 << 2;
export const FS_DQ_BHARD = 1 << 3;
export const FS_DQ_BTIMER = 1 << 6;
export const FS_DQ_ITIMER = 1 << 7;
export const FS_DQ_BIGTIME = 1 << 15;
export const FS_DQ_LIMITS = FS_DQ_ISOFT | FS_DQ_IHARD | FS_DQ_BSOFT | FS_DQ_BHARD;
export const FS_DISK_QUOTA_SIZE = 112;

export interface FsDiskQuota {
  version: number;
  flags: number; // FS_{USER,PROJ,GROUP}_QUOTA
  fieldmask: number; // FS_DQ_*
  id: number;
  blkHardlimit: bigint; // 512-byte blocks
  blkSoftlimit: bigint;
  inoHardlimit: bigint;
  inoSoftlimit: bigint;
  bcount: bigint; // 512-byte blocks in use
  icount: bigint;
  /** Unix seconds; the kernel splits them into a low s32 and (FS_DQ_BIGTIME) a high s8. */
  itimer: number;
  btimer: number;
  iwarns: number;
  bwarns: number;
}

export function encodeFsDiskQuota(q: FsDiskQuota): Buffer {
  const b = Buffer.alloc(FS_DISK_QUOTA_SIZE);
  b.writeInt8(q.version, 0);
  b.writeInt8(q.flags, 1);
  b.writeUInt16LE(q.fieldmask, 2);
  b.writeUInt32LE(q.id >>> 0, 4);
  b.writeBigUInt64LE(q.blkHardlimit, 8);
  b.writeBigUInt64LE(q.blkSoftlimit, 16);
  b.writeBigUInt64LE(q.inoHardlimit, 24);
  b.writeBigUInt64LE(q.inoSoftlimit, 32);
  b.writeBigUInt64LE(q.bcount, 40);
  b.writeBigUInt64LE(q.icount, 48);
  b.writeInt32LE(lo32(q.itimer), 56);
  b.writeInt32LE(lo32(q.btimer), 60);
  b.writeUInt16LE(q.iwarns, 64);
  b.writeUInt16LE(q.bwarns, 66);
  b.writeInt8(hi8(q.itimer), 68);
  b.writeInt8(hi8(q.btimer), 69);
  // 70: d_rtbtimer_hi, 71: d_padding2, 72..103: realtime fields, 104..111: d_padding4 - all zero
  return b;
}

export function decodeFsDiskQuota(b: Buffer): FsDiskQuota {
  if (b.length < FS_DISK_QUOTA_SIZE) throw new RangeError(`fs_disk_quota needs ${FS_DISK_QUOTA_SIZE} bytes, got ${b.length}`);
  const fieldmask = b.readUInt16LE(2);
  const big = (fieldmask & FS_DQ_BIGTIME) !== 0;
  // Without FS_DQ_BIGTIME the timers are the s32 alone; with it, the kernel stores the low 32 bits
  // (as a u32 in an s32 field) and the next 8 bits in d_*timer_hi.
  const time = (lo: number, hi: number): number => (big ? hi * 2 ** 32 + (lo >>> 0) : lo);
  return {
    version: b.readInt8(0),
    flags: b.readInt8(1),
    fieldmask,
    id: b.readUInt32LE(4),
    blkHardlimit: b.readBigUInt64LE(8),
    blkSoftlimit: b.readBigUInt64LE(16),
    inoHardlimit: b.readBigUInt64LE(24),
    inoSoftlimit: b.readBigUInt64LE(32),
    bcount: b.readBigUInt64LE(40),
    icount: b.readBigUInt64LE(48),
    itimer: time(b.readInt32LE(56), b.readInt8(68)),
    btimer: time(b.readInt32LE(60), b.readInt8(69)),
    iwarns: b.readUInt16LE(64),
    bwarns: b.readUInt16LE(66),
  };
}

function lo32(t: number): number {
  return Number(BigInt.asIntN(32, BigInt(Math.trunc(t))));
}
function hi8(t: number): number {
  return Number(BigInt.asIntN(8, BigInt(Math.trunc(t)) >> 32n));
}

// ---- struct fs_quota_stat (Q_XGETQSTAT), 80 bytes --------------------------------------------

export const FS_QUOTA_STAT_SIZE = 80;
export const FS_QUOTA_PDQ_ACCT = 1 << 4;
export const FS_QUOTA_PDQ_ENFD = 1 << 5;

/** Only what this module needs: qs_flags (u16 at offset 2) and the block/inode grace limits. */
export function decodeFsQuotaStat(b: Buffer): { flags: number; btimelimit: number; itimelimit: number } {
  if (b.length < FS_QUOTA_STAT_SIZE) throw new RangeError(`fs_quota_stat needs ${FS_QUOTA_STAT_SIZE} bytes, got ${b.length}`);
  return { flags: b.readUInt16LE(2), btimelimit: b.readInt32LE(60), itimelimit: b.readInt32LE(64) };
}

// ---- struct fsxattr (FS_IOC_FSGETXATTR / FS_IOC_FSSETXATTR), 28 bytes ------------------------

export const FSXATTR_SIZE = 28;
export const FS_XFLAG_PROJINHERIT = 0x200;

/** _IOC(dir, type, nr, size) = dir << 30 | size << 16 | type << 8 | nr; _IOC_READ 2, _IOC_WRITE 1. */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}
export const FS_IOC_FSGETXATTR = ioc(2, 0x58, 31, FSXATTR_SIZE); // _IOR('X', 31, struct fsxattr) = 0x801c581f
export const FS_IOC_FSSETXATTR = ioc(1, 0x58, 32, FSXATTR_SIZE); // _IOW('X', 32, struct fsxattr) = 0x401c5820

export interface Fsxattr {
  xflags: number;
  extsize: number;
  nextents: number;
  projid: number;
  cowextsize: number;
}

export function encodeFsxattr(x: Fsxattr): Buffer {
  const b = Buffer.alloc(FSXATTR_SIZE);
  b.writeUInt32LE(x.xflags >>> 0, 0);
  b.writeUInt32LE(x.extsize >>> 0, 4);
  b.writeUInt32LE(x.nextents >>> 0, 8);
  b.writeUInt32LE(x.projid >>> 0, 12);
  b.writeUInt32LE(x.cowextsize >>> 0, 16);
  return b; // 20..27: fsx_pad, zero
}

export function decodeFsxattr(b: Buffer): Fsxattr {
  if (b.length < FSXATTR_SIZE) throw new RangeError(`fsxattr needs ${FSXATTR_SIZE} bytes, got ${b.length}`);
  return {
    xflags: b.readUInt32LE(0),
    extsize: b.readUInt32LE(4),
    nextents: b.readUInt32LE(8),
    projid: b.readUInt32LE(12),
    cowextsize: b.readUInt32LE(16),
  };
}

// ---- struct file_attr (file_getattr(2) / file_setattr(2), Linux 6.17+), 24 bytes -------------

/** Syscall numbers are the same on every architecture for syscalls this new. */
export const SYS_file_getattr = 468;
export const SYS_file_setattr = 469;
export const FILE_ATTR_SIZE_VER0 = 24;

export function encodeFileAttr(x: Fsxattr): Buffer {
  const b = Buffer.alloc(FILE_ATTR_SIZE_VER0);
  b.writeBigUInt64LE(BigInt(x.xflags >>> 0), 0); // fa_xflags is a u64
  b.writeUInt32LE(x.extsize >>> 0, 8);
  b.writeUInt32LE(x.nextents >>> 0, 12);
  b.writeUInt32LE(x.projid >>> 0, 16);
  b.writeUInt32LE(x.cowextsize >>> 0, 20);
  return b;
}

export function decodeFileAttr(b: Buffer): Fsxattr {
  if (b.length < FILE_ATTR_SIZE_VER0) throw new RangeError(`file_attr needs ${FILE_ATTR_SIZE_VER0} bytes, got ${b.length}`);
  return {
    xflags: Number(b.readBigUInt64LE(0) & 0xffffffffn),
    extsize: b.readUInt32LE(8),
    nextents: b.readUInt32LE(12),
    projid: b.readUInt32LE(16),
    cowextsize: b.readUInt32LE(20),
  };
}

// ---- ext4 superblock features ----------------------------------------------------------------

/** The ext4 superblock starts at byte 1024 of the device; these offsets are within it. */
export const EXT4_SB_OFFSET = 1024;
export const EXT4_SB_MAGIC_OFF = 0x38; // u16 0xEF53
export const EXT4_SB_RO_COMPAT_OFF = 0x64; // u32 s_feature_ro_compat
export const EXT4_SB_INODE_SIZE_OFF = 0x58; // u16 s_inode_size
export const EXT4_FEATURE_RO_COMPAT_QUOTA = 0x100;
export const EXT4_FEATURE_RO_COMPAT_PROJECT = 0x2000;
export const EXT4_SUPER_MAGIC = 0xef53;
export const XFS_SUPER_MAGIC = 0x58465342;

export function decodeExt4Features(sb: Buffer): { magic: boolean; quota: boolean; project: boolean; inodeSize: number } {
  const magic = sb.length >= 0x68 && sb.readUInt16LE(EXT4_SB_MAGIC_OFF) === EXT4_SUPER_MAGIC;
  if (!magic) return { magic: false, quota: false, project: false, inodeSize: 0 };
  const ro = sb.readUInt32LE(EXT4_SB_RO_COMPAT_OFF);
  return {
    magic,
    quota: (ro & EXT4_FEATURE_RO_COMPAT_QUOTA) !== 0,
    project: (ro & EXT4_FEATURE_RO_COMPAT_PROJECT) !== 0,
    inodeSize: sb.readUInt16LE(EXT4_SB_INODE_SIZE_OFF),
  };
}
