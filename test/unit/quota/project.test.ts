/**
 * The parts of quota/project.ts that need no kernel: validation (which runs before any
 * syscall), unit conversions, mountinfo parsing.
 */
import { describe, expect, it } from 'vitest';
import {
  validateProjectId,
  bytesToQuotaBlocks,
  bytesToBasicBlocks,
  parseMountinfo,
  setLimits,
  xfsSetLimits,
  setGrace,
  getQuota,
  setProject,
  PROJID_MAX,
} from '../../../quota/project.js';

const vzErr = (code: string, msg: RegExp) => expect.objectContaining({ name: 'VzError', code, message: expect.stringMatching(msg) });

describe('validateProjectId', () => {
  it('accepts 1..2^32-2', () => {
    for (const id of [1, 4242, PROJID_MAX]) expect(() => validateProjectId(id)).not.toThrow();
    expect(PROJID_MAX).toBe(4294967294);
  });

  it('rejects 0 (the default project), 2^32-1, fractions, negatives', () => {
    for (const id of [0, 2 ** 32 - 1, 2 ** 32, 1.5, -1, NaN]) {
      expect(() => validateProjectId(id)).toThrow(vzErr('INVALID', /invalid project ID/));
    }
  });

  it('every entry point validates before touching the kernel', () => {
    expect(() => setLimits('/dev/nonexistent', 'ext4', 0, { bytesHard: 1 })).toThrow(vzErr('INVALID', /project ID 0/));
    expect(() => getQuota('/dev/nonexistent', 'xfs', 2 ** 32 - 1)).toThrow(vzErr('INVALID', /project ID/));
    expect(() => setProject('/nonexistent', -3)).toThrow(vzErr('INVALID', /project ID -3/));
  });
});

describe('limit validation', () => {
  it('refuses a soft limit above the hard limit', () => {
    expect(() => setLimits('/dev/x', 'ext4', 1, { bytesSoft: 2, bytesHard: 1 })).toThrow(vzErr('INVALID', /soft limit 2 is above the hard limit 1/));
    expect(() => xfsSetLimits('/dev/x', 'xfs', 1, { inodesSoft: 20, inodesHard: 10 })).toThrow(vzErr('INVALID', /inode soft limit/));
  });

  it('refuses negative and fractional values', () => {
    expect(() => setLimits('/dev/x', 'ext4', 1, { bytesHard: -1 })).toThrow(vzErr('INVALID', /bytesHard -1/));
    expect(() => setLimits('/dev/x', 'ext4', 1, { inodesHard: 0.5 })).toThrow(vzErr('INVALID', /inodesHard/));
  });

  it('grace periods must be 1 s or more (ext4 and XFS read 0 differently)', () => {
    expect(() => setGrace('/dev/x', 'ext4', { bytesSeconds: 0 })).toThrow(vzErr('INVALID', /grace period/));
    expect(() => setGrace('/dev/x', 'xfs', { inodesSeconds: 2 ** 31 })).toThrow(vzErr('INVALID', /grace period/));
  });
});

describe('unit conversions', () => {
  it('bytes to 1 KiB quota blocks round up', () => {
    expect(bytesToQuotaBlocks(0)).toBe(0n);
    expect(bytesToQuotaBlocks(1)).toBe(1n);
    expect(bytesToQuotaBlocks(1024)).toBe(1n);
    expect(bytesToQuotaBlocks(1025)).toBe(2n);
    expect(bytesToQuotaBlocks(20 * 1024 * 1024)).toBe(20480n);
    expect(bytesToQuotaBlocks(2 ** 50)).toBe(2n ** 40n);
  });

  it('bytes to 512-byte basic blocks round up', () => {
    expect(bytesToBasicBlocks(511)).toBe(1n);
    expect(bytesToBasicBlocks(512)).toBe(1n);
    expect(bytesToBasicBlocks(20 * 1024 * 1024)).toBe(40960n);
  });
});

describe('parseMountinfo', () => {
  it('reads device, mount point, fs type, source and super options (octal escapes decoded)', () => {
    const text = [
      '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,errors=remount-ro',
      '42 27 7:3 / /tmp/a\\040b rw,relatime shared:5 master:2 - xfs /dev/loop3 rw,inode64,logbufs=8,logbsize=32k,prjquota',
      '43 27 7:4 /sub /srv/bind rw - ext4 /dev/loop4 rw,quota,prjquota',
    ].join('\n');
    const m = parseMountinfo(text);
    expect(m).toHaveLength(3);
    expect(m[1]).toEqual({
      majorMinor: '7:3',
      root: '/',
      mountPoint: '/tmp/a b',
      mountOptions: ['rw', 'relatime'],
      fsType: 'xfs',
      source: '/dev/loop3',
      superOptions: ['rw', 'inode64', 'logbufs=8', 'logbsize=32k', 'prjquota'],
    });
    expect(m[2]).toMatchObject({ root: '/sub', mountPoint: '/srv/bind', superOptions: ['rw', 'quota', 'prjquota'] });
  });
});
