/**
 * Byte layouts of the quota and fsxattr structs and the command numbers, against values worked
 * out by hand from <linux/quota.h>, <linux/dqblk_xfs.h> and <linux/fs.h> (x86_64, little
 * endian); test/unit/sys/layouts.test.ts checks the same layouts against the headers with gcc.
 */
import { describe, expect, it } from 'vitest';
import {
  qcmd,
  PRJQUOTA,
  Q_GETQUOTA,
  Q_SETQUOTA,
  Q_GETINFO,
  Q_SETINFO,
  Q_XGETQUOTA,
  Q_XSETQLIM,
  Q_XGETQSTAT,
  XQM_CMD,
  QIF_ALL,
  QIF_LIMITS,
  IIF_BGRACE,
  IIF_IGRACE,
  encodeIfDqblk,
  decodeIfDqblk,
  encodeIfDqinfo,
  decodeIfDqinfo,
  encodeFsDiskQuota,
  decodeFsDiskQuota,
  decodeFsQuotaStat,
  FS_PROJ_QUOTA,
  FS_DQ_LIMITS,
  FS_DQ_BIGTIME,
  FS_QUOTA_PDQ_ACCT,
  FS_QUOTA_PDQ_ENFD,
} from '../../../src/sys/quotactl.js';
import {
  encodeFsxattr,
  decodeFsxattr,
  encodeFileAttr,
  decodeFileAttr,
  FS_IOC_FSGETXATTR,
  FS_IOC_FSSETXATTR,
  FS_XFLAG_PROJINHERIT,
  SYS_file_getattr,
  SYS_file_setattr,
} from '../../../src/sys/fsattr.js';
import { ioc } from '../../../src/sys/ioctl.js';
import { decodeExt4Features } from '../../../quota/ext4.js';

const hex = (b: Buffer): string => b.toString('hex');
const bytes = (...groups: string[]): string => groups.join('').replace(/\s+/g, '');
const z = (n: number): string => '00'.repeat(n);

describe('command numbers', () => {
  it('QCMD(cmd, PRJQUOTA) matches <linux/quota.h> and is passed as a C int', () => {
    expect(qcmd(Q_GETQUOTA, PRJQUOTA) >>> 0).toBe(0x80000702);
    expect(qcmd(Q_SETQUOTA, PRJQUOTA) >>> 0).toBe(0x80000802);
    expect(qcmd(Q_GETINFO, PRJQUOTA) >>> 0).toBe(0x80000502);
    expect(qcmd(Q_SETINFO, PRJQUOTA) >>> 0).toBe(0x80000602);
    // 0x80000702 does not fit an int: it travels as its two's complement
    expect(qcmd(Q_GETQUOTA, PRJQUOTA)).toBe(0x80000702 - 2 ** 32);
    expect(qcmd(Q_GETQUOTA, 0x102)).toBe(qcmd(Q_GETQUOTA, 2)); // type is masked to 8 bits
  });

  it('XQM_CMD and the XFS commands', () => {
    expect(XQM_CMD(3)).toBe(0x5803);
    expect(Q_XGETQUOTA).toBe(0x5803);
    expect(Q_XSETQLIM).toBe(0x5804);
    expect(Q_XGETQSTAT).toBe(0x5805);
    expect(qcmd(Q_XGETQUOTA, PRJQUOTA)).toBe(0x580302);
    expect(qcmd(Q_XSETQLIM, PRJQUOTA)).toBe(0x580402);
    expect(qcmd(Q_XGETQSTAT, PRJQUOTA)).toBe(0x580502);
  });

  it('FS_IOC_FSGETXATTR / FS_IOC_FSSETXATTR: _IOR/_IOW("X", 31/32, 28 bytes)', () => {
    expect(FS_IOC_FSGETXATTR).toBe(0x801c581f);
    expect(FS_IOC_FSSETXATTR).toBe(0x401c5820);
    expect(ioc(3, 0x58, 1, 8)).toBe(0xc0085801); // _IOWR: both direction bits
  });

  it('file_getattr/file_setattr have the generic (all-arch) numbers', () => {
    expect([SYS_file_getattr, SYS_file_setattr]).toEqual([468, 469]);
  });

  it('QIF_* masks', () => {
    expect(QIF_LIMITS).toBe(0b000101);
    expect(QIF_ALL).toBe(0b111111);
    expect(IIF_BGRACE | IIF_IGRACE).toBe(3);
  });
});

describe('struct if_dqblk (72 bytes)', () => {
  const q = {
    bhardlimit: 20480n, // 20 MiB in 1 KiB blocks
    bsoftlimit: 10240n,
    curspace: 0x0102030405060708n,
    ihardlimit: 1000n,
    isoftlimit: 900n,
    curinodes: 7n,
    btime: 1600000000n, // 0x5f5e1000
    itime: 0n,
    valid: QIF_LIMITS,
  };
  const expected = bytes(
    '0050000000000000', // dqb_bhardlimit
    '0028000000000000', // dqb_bsoftlimit
    '0807060504030201', // dqb_curspace
    'e803000000000000', // dqb_ihardlimit
    '8403000000000000', // dqb_isoftlimit
    '0700000000000000', // dqb_curinodes
    '00105e5f00000000', // dqb_btime
    z(8), // dqb_itime
    '05000000', // dqb_valid
    z(4), // tail padding
  );

  it('encodes to the hand-computed bytes', () => {
    const b = encodeIfDqblk(q);
    expect(b.length).toBe(72);
    expect(hex(b)).toBe(expected);
  });

  it('decodes them back', () => {
    expect(decodeIfDqblk(Buffer.from(expected, 'hex'))).toEqual(q);
    expect(() => decodeIfDqblk(Buffer.alloc(68))).toThrow(RangeError);
  });
});

describe('struct if_dqinfo (24 bytes)', () => {
  it('round-trips the hand-computed bytes', () => {
    const i = { bgrace: 604800n, igrace: 2n, flags: 0, valid: IIF_BGRACE | IIF_IGRACE };
    const expected = bytes('803a090000000000', '0200000000000000', '00000000', '03000000');
    expect(hex(encodeIfDqinfo(i))).toBe(expected);
    expect(decodeIfDqinfo(Buffer.from(expected, 'hex'))).toEqual(i);
  });
});

describe('struct fs_disk_quota (112 bytes)', () => {
  const d = {
    version: 1,
    flags: FS_PROJ_QUOTA,
    fieldmask: FS_DQ_LIMITS,
    id: 4242, // 0x1092
    blkHardlimit: 40960n, // 20 MiB in 512-byte basic blocks
    blkSoftlimit: 20480n,
    inoHardlimit: 1000n,
    inoSoftlimit: 900n,
    bcount: 0n,
    icount: 0n,
    itimer: 0,
    btimer: 0,
    iwarns: 0,
    bwarns: 0,
  };
  const expected = bytes(
    '01', // d_version
    '02', // d_flags: FS_PROJ_QUOTA
    '0f00', // d_fieldmask: ISOFT|IHARD|BSOFT|BHARD
    '92100000', // d_id
    '00a0000000000000', // d_blk_hardlimit
    '0050000000000000', // d_blk_softlimit
    'e803000000000000', // d_ino_hardlimit
    '8403000000000000', // d_ino_softlimit
    z(8), // d_bcount
    z(8), // d_icount
    z(4), // d_itimer
    z(4), // d_btimer
    z(2) + z(2), // d_iwarns, d_bwarns
    z(4), // d_itimer_hi, d_btimer_hi, d_rtbtimer_hi, d_padding2
    z(8 * 3 + 4 + 2 + 2 + 8), // realtime fields, padding3, padding4
  );

  it('encodes to the hand-computed bytes', () => {
    const b = encodeFsDiskQuota(d);
    expect(b.length).toBe(112);
    expect(hex(b)).toBe(expected);
  });

  it('decodes usage, counters and 32-bit timers', () => {
    const b = Buffer.from(expected, 'hex');
    b.writeBigUInt64LE(2048n, 40); // d_bcount: 1 MiB
    b.writeBigUInt64LE(12n, 48); // d_icount
    b.writeInt32LE(1700000000, 56); // d_itimer
    b.writeInt32LE(1700000002, 60); // d_btimer
    b.writeUInt16LE(3, 66); // d_bwarns
    expect(decodeFsDiskQuota(b)).toEqual({ ...d, bcount: 2048n, icount: 12n, itimer: 1700000000, btimer: 1700000002, bwarns: 3 });
  });

  it('decodes FS_DQ_BIGTIME timers from the low s32 and the high s8', () => {
    const b = Buffer.alloc(112);
    b.writeUInt16LE(FS_DQ_BIGTIME, 2);
    b.writeUInt32LE(0xffffffff, 60); // low 32 bits of d_btimer, stored in an s32
    b.writeInt8(1, 69); // d_btimer_hi
    b.writeUInt32LE(5, 56);
    b.writeInt8(2, 68);
    const got = decodeFsDiskQuota(b);
    expect(got.btimer).toBe(2 ** 33 - 1);
    expect(got.itimer).toBe(2 * 2 ** 32 + 5);
    // and encoding splits a big time the same way
    const enc = encodeFsDiskQuota({ ...d, btimer: 2 ** 33 - 1 });
    expect(enc.readInt32LE(60)).toBe(-1);
    expect(enc.readInt8(69)).toBe(1);
  });
});

describe('struct fs_quota_stat (80 bytes, Q_XGETQSTAT)', () => {
  it('reads qs_flags at offset 2 and the grace limits at 60/64', () => {
    const b = Buffer.alloc(80);
    b.writeInt8(1, 0);
    b.writeUInt16LE(FS_QUOTA_PDQ_ACCT | FS_QUOTA_PDQ_ENFD, 2);
    b.writeInt32LE(604800, 60);
    b.writeInt32LE(3600, 64);
    expect(decodeFsQuotaStat(b)).toEqual({ flags: 0x30, btimelimit: 604800, itimelimit: 3600 });
  });
});

describe('struct fsxattr (28 bytes) and struct file_attr (24 bytes)', () => {
  const x = { xflags: FS_XFLAG_PROJINHERIT, extsize: 0, nextents: 3, projid: 4242, cowextsize: 0 };

  it('fsxattr: five u32 then 8 bytes of padding', () => {
    const expected = bytes('00020000', z(4), '03000000', '92100000', z(4), z(8));
    expect(hex(encodeFsxattr(x))).toBe(expected);
    expect(decodeFsxattr(Buffer.from(expected, 'hex'))).toEqual(x);
  });

  it('file_attr: a u64 fa_xflags then four u32', () => {
    const withHasattr = { ...x, xflags: 0x80000200 }; // FS_XFLAG_HASATTR | PROJINHERIT
    const expected = bytes('0002008000000000', z(4), '03000000', '92100000', z(4));
    expect(hex(encodeFileAttr(withHasattr))).toBe(expected);
    expect(decodeFileAttr(Buffer.from(expected, 'hex'))).toEqual(withHasattr);
  });

  it('projids up to 2^32-2 survive', () => {
    const big = { ...x, projid: 2 ** 32 - 2 };
    expect(decodeFsxattr(encodeFsxattr(big)).projid).toBe(2 ** 32 - 2);
    expect(decodeFileAttr(encodeFileAttr(big)).projid).toBe(2 ** 32 - 2);
  });
});

describe('ext4 superblock features', () => {
  const sb = (roCompat: number, inodeSize = 256): Buffer => {
    const b = Buffer.alloc(1024);
    b.writeUInt16LE(0xef53, 0x38);
    b.writeUInt16LE(inodeSize, 0x58);
    b.writeUInt32LE(roCompat, 0x64);
    return b;
  };

  it('reads the quota (0x100) and project (0x2000) RO_COMPAT bits', () => {
    expect(decodeExt4Features(sb(0x2100 | 0x1))).toEqual({ magic: true, quota: true, project: true, inodeSize: 256 });
    expect(decodeExt4Features(sb(0x100, 128))).toEqual({ magic: true, quota: true, project: false, inodeSize: 128 });
    expect(decodeExt4Features(Buffer.alloc(1024)).magic).toBe(false);
  });
});
