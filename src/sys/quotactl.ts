/**
 * quotactl(2): its command numbers and the structs it passes, as layouts (<linux/quota.h>,
 * <linux/dqblk_xfs.h>; only fixed-width fields, so the same on every 64-bit Linux ABI). The
 * encoders and decoders are pure, unit-tested against hand-computed bytes, and
 * test/unit/sys/layouts.test.ts checks the layouts against the headers with gcc.
 */
import { getLibc } from './libc.js';
import { layout, s8, u16, u32, s32, u64, encode, decode, type Values } from './struct.js';


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

export const IF_DQBLK = layout('if_dqblk', '<linux/quota.h>', IF_DQBLK_SIZE, {
  bhardlimit: u64('dqb_bhardlimit', 0), // 1 KiB blocks, 0 = none
  bsoftlimit: u64('dqb_bsoftlimit', 8),
  curspace: u64('dqb_curspace', 16), // bytes
  ihardlimit: u64('dqb_ihardlimit', 24),
  isoftlimit: u64('dqb_isoftlimit', 32),
  curinodes: u64('dqb_curinodes', 40),
  btime: u64('dqb_btime', 48), // Unix seconds when the block grace ends; 0 = under the soft limit
  itime: u64('dqb_itime', 56),
  valid: u32('dqb_valid', 64), // QIF_* mask; 68..71: tail padding, zero
});

export type IfDqblk = Values<typeof IF_DQBLK>;

export const encodeIfDqblk = (q: IfDqblk): Buffer => encode(IF_DQBLK, q);
export const decodeIfDqblk = (b: Buffer): IfDqblk => decode(IF_DQBLK, b);

// ---- struct if_dqinfo (Q_GETINFO / Q_SETINFO), 24 bytes --------------------------------------

export const IIF_BGRACE = 1;
export const IIF_IGRACE = 2;
export const IIF_FLAGS = 4;
export const IF_DQINFO_SIZE = 24;

export const IF_DQINFO = layout('if_dqinfo', '<linux/quota.h>', IF_DQINFO_SIZE, {
  bgrace: u64('dqi_bgrace', 0), // seconds
  igrace: u64('dqi_igrace', 8),
  flags: u32('dqi_flags', 16), // DQF_*
  valid: u32('dqi_valid', 20), // IIF_* mask
});

export type IfDqinfo = Values<typeof IF_DQINFO>;

export const encodeIfDqinfo = (i: IfDqinfo): Buffer => encode(IF_DQINFO, i);
export const decodeIfDqinfo = (b: Buffer): IfDqinfo => decode(IF_DQINFO, b);

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

/**
 * struct fs_disk_quota, the fields vzkit uses; the realtime fields and padding stay zero. A timer is
 * split as the kernel splits it: the low 32 bits in d_*timer, the next 8 in d_*timer_hi.
 */
export const FS_DISK_QUOTA = layout('fs_disk_quota', '<linux/dqblk_xfs.h>', FS_DISK_QUOTA_SIZE, {
  version: s8('d_version', 0),
  flags: s8('d_flags', 1),
  fieldmask: u16('d_fieldmask', 2),
  id: u32('d_id', 4),
  blkHardlimit: u64('d_blk_hardlimit', 8),
  blkSoftlimit: u64('d_blk_softlimit', 16),
  inoHardlimit: u64('d_ino_hardlimit', 24),
  inoSoftlimit: u64('d_ino_softlimit', 32),
  bcount: u64('d_bcount', 40),
  icount: u64('d_icount', 48),
  itimer: s32('d_itimer', 56),
  btimer: s32('d_btimer', 60),
  iwarns: u16('d_iwarns', 64),
  bwarns: u16('d_bwarns', 66),
  itimerHi: s8('d_itimer_hi', 68),
  btimerHi: s8('d_btimer_hi', 69),
});

export function encodeFsDiskQuota(q: FsDiskQuota): Buffer {
  return encode(FS_DISK_QUOTA, { ...q, itimer: lo32(q.itimer), btimer: lo32(q.btimer), itimerHi: hi8(q.itimer), btimerHi: hi8(q.btimer) });
}

export function decodeFsDiskQuota(b: Buffer): FsDiskQuota {
  const { itimerHi, btimerHi, ...d } = decode(FS_DISK_QUOTA, b);
  // Without FS_DQ_BIGTIME the timers are the s32 alone; with it, the kernel stores the low 32 bits
  // (as a u32 in an s32 field) and the next 8 bits in d_*timer_hi.
  const big = (d.fieldmask & FS_DQ_BIGTIME) !== 0;
  const time = (lo: number, hi: number): number => (big ? hi * 2 ** 32 + (lo >>> 0) : lo);
  return { ...d, itimer: time(d.itimer, itimerHi), btimer: time(d.btimer, btimerHi) };
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

/** struct fs_quota_stat, only what vzkit reads: the flags and the block/inode grace limits. */
export const FS_QUOTA_STAT = layout('fs_quota_stat', '<linux/dqblk_xfs.h>', FS_QUOTA_STAT_SIZE, {
  flags: u16('qs_flags', 2),
  btimelimit: s32('qs_btimelimit', 60),
  itimelimit: s32('qs_itimelimit', 64),
});

export const decodeFsQuotaStat = (b: Buffer): Values<typeof FS_QUOTA_STAT> => decode(FS_QUOTA_STAT, b);

// ---- the syscall -------------------------------------------------------------------------------

export const SYS_quotactl = 179; // x86_64

/** quotactl(cmd, special, id, buf); returns 0 or the errno. */
export function quotactlRaw(cmd: number, special: string, id: number, buf: Buffer | null): number {
  const libc = getLibc();
  const r = Number(libc.syscall(SYS_quotactl, 'int', cmd, 'str', special, 'int', id | 0, 'void *', buf));
  return r < 0 ? libc.errno() : 0;
}
