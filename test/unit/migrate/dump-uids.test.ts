import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeUserns, dumpUidBase, encodeUserns, rebaseDump, shiftCgroupImage } from '../../../migrate/dump-uids.js';
import { shiftMap } from '../../../src/sys/idmapmount.js';

// userns-14.img of a busybox container's dump by CRIU 4.1.1 (vzctl suspend), maps "0 3000000000 65536".
const REAL = Buffer.from('19435654064947551c0000000a0c08001080bcc1960b18808004120c08001080bcc1960b18808004', 'hex');

describe('userns image', () => {
  it('decodes CRIU\'s image and encodes it back byte for byte', () => {
    const m = decodeUserns(REAL);
    expect(m).toEqual({ uid: [{ first: 0, lowerFirst: 3000000000, count: 65536 }], gid: [{ first: 0, lowerFirst: 3000000000, count: 65536 }] });
    expect(encodeUserns(m).equals(REAL)).toBe(true);
  });

  it('refuses what it does not know rather than passing it on half-read', () => {
    const unknownField = Buffer.concat([REAL.subarray(0, 8), Buffer.from([0x1e, 0, 0, 0]), REAL.subarray(12), Buffer.from([0x18, 0x01])]);
    expect(() => decodeUserns(unknownField)).toThrow(/unexpected field 3/);
    const twoEntries = Buffer.concat([REAL, Buffer.from([0, 0, 0, 0])]);
    expect(() => decodeUserns(twoEntries)).toThrow(/not exactly one entry/);
    const badMagic = Buffer.from(REAL);
    badMagic.writeUInt32LE(0x54564319, 4);
    expect(() => decodeUserns(badMagic)).toThrow(/bad magic/);
    const truncated = Buffer.from(REAL.subarray(0, REAL.length - 3));
    truncated.writeUInt32LE(truncated.length - 12, 8);
    expect(() => decodeUserns(truncated)).toThrow(/truncated/);
  });

  it('moves a dump to another base, and refuses maps that are not one vzkit range', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'userns-img-'));
    try {
      fs.writeFileSync(path.join(dir, 'userns-14.img'), REAL);
      expect(rebaseDump(dir, 200000, 65536)).toBe(3000000000);
      expect(dumpUidBase(dir, 65536)).toBe(200000);
      expect(() => dumpUidBase(dir, 1000)).toThrow(/not one range of 1000 ids/);
      const two = [{ first: 0, lowerFirst: 200000, count: 10 }, { first: 10, lowerFirst: 300000, count: 10 }];
      fs.writeFileSync(path.join(dir, 'userns-14.img'), encodeUserns({ uid: two, gid: two }));
      expect(() => rebaseDump(dir, 400000, 20)).toThrow(/not one range/);
      fs.writeFileSync(path.join(dir, 'userns-15.img'), REAL);
      expect(() => dumpUidBase(dir, 65536)).toThrow(/2 userns images/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cgroup image', () => {
  // cgroup.img of the same container dumped with --manage-cgroups=soft (cgroup v1 host): 76
  // owners of cgroup files are the container's root, host uid 3000000000; the rest host root's.
  const CG = fs.readFileSync(path.join(import.meta.dirname, 'fixtures/cgroup-soft-v1.img'));
  const move = (from: number, to: number) => (id: number) => (id >= from && id < from + 65536 ? to + id - from : id);

  it('moves the owners in the container\'s range, keeps the others, and nothing else changes', () => {
    expect(shiftCgroupImage(CG, (id) => id)).toBeUndefined();
    const out = shiftCgroupImage(CG, move(3000000000, 3000131072))!;
    expect(out.length).toBe(CG.length);
    const le = (x: number) => Buffer.from([...Array(5)].map((_, i) => Math.floor(x / 128 ** i) % 128 | (i < 4 ? 0x80 : 0)));
    const count = (b: Buffer, needle: Buffer) => {
      let n = 0;
      for (let i = b.indexOf(needle); i >= 0; i = b.indexOf(needle, i + 1)) n++;
      return n;
    };
    expect(count(CG, le(3000000000))).toBe(76);
    expect(count(out, le(3000000000))).toBe(0);
    expect(count(out, le(3000131072))).toBe(76);
    expect(shiftCgroupImage(out, move(3000131072, 3000000000))!.equals(CG)).toBe(true);
  });

  it('rebaseDump moves cgroup.img with the maps', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgroup-img-'));
    try {
      fs.writeFileSync(path.join(dir, 'userns-14.img'), REAL);
      fs.writeFileSync(path.join(dir, 'cgroup.img'), CG);
      rebaseDump(dir, 3000131072, 65536);
      expect(fs.readFileSync(path.join(dir, 'cgroup.img')).equals(shiftCgroupImage(CG, move(3000000000, 3000131072))!)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('idmapped view map', () => {
  it('swaps two ranges apart and keeps the rest of the id space', () => {
    const m = shiftMap(1000000, 1065536, 65536);
    expect(m).toContainEqual({ first: 1000000, lower: 1065536, count: 65536 });
    expect(m).toContainEqual({ first: 1065536, lower: 1000000, count: 65536 });
    expect(m).toContainEqual({ first: 0, lower: 0, count: 1000000 });
    // Every id 0..2^32-2 once on each side: the kernel refuses overlapping lower ranges.
    const total = m.reduce((a, e) => a + e.count, 0);
    expect(total).toBe(0xffffffff);
    const byLower = [...m].sort((a, b) => a.lower - b.lower);
    for (let i = 1; i < byLower.length; i++) expect(byLower[i]!.lower).toBe(byLower[i - 1]!.lower + byLower[i - 1]!.count);
  });

  it('maps only the range when the two overlap, the identity when they are the same', () => {
    expect(shiftMap(1000000, 1032768, 65536)).toEqual([{ first: 1000000, lower: 1032768, count: 65536 }]);
    expect(shiftMap(5, 5, 10)).toEqual([{ first: 0, lower: 0, count: 0xffffffff }]);
  });
});
