import { describe, expect, it } from 'vitest';
import { checkWeight, formatBytes, sharesToWeight, weightToShares } from '../../../src/cgroup/units.js';
import { cgroupWriteError, readKeyed, readNumber } from '../../../src/cgroup/cgfs.js';
import { VzError } from '../../../src/base/errors.js';
import { put, fakeV2, UNLIMITED_V1 } from '../../support/fake-cgroupfs.js';
import { join } from 'node:path';

const errno = (code: string, syscall = 'write'): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: some text, ${syscall}`), { code, syscall });

describe('cpu weight <-> shares', () => {
  it('maps the ends of the weight range inside the shares range', () => {
    expect(weightToShares(1)).toBe(10);
    expect(weightToShares(10000)).toBe(102400);
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262144)).toBe(10000);
  });

  it('follows systemd: weight 100 (v2 default) is 1024 shares (v1 default)', () => {
    expect(sharesToWeight(1024)).toBe(100);
    expect(weightToShares(100)).toBe(1024);
    expect(weightToShares(200)).toBe(2048);
  });

  it('round-trips every weight', () => {
    for (let w = 1; w <= 10000; w++) expect(sharesToWeight(weightToShares(w))).toBe(w);
  });

  it('is monotonic and stays in 2..262144', () => {
    let prev = 0;
    for (let w = 1; w <= 10000; w += 7) {
      const s = weightToShares(w);
      expect(s).toBeGreaterThan(prev);
      expect(s).toBeLessThanOrEqual(262144);
      prev = s;
    }
  });

  it('rejects weights outside 1..10000', () => {
    for (const w of [0, 10001, 1.5, -1, NaN]) expect(() => checkWeight(w)).toThrow(VzError);
  });
});

describe('formatBytes', () => {
  it('uses a suffix only for exact multiples', () => {
    expect(formatBytes(1 << 20)).toBe('1M');
    expect(formatBytes(512 * 1024)).toBe('512K');
    expect(formatBytes(3 * 2 ** 30)).toBe('3G');
    expect(formatBytes(1536)).toBe('1536');
    expect(formatBytes(Infinity)).toBe('unlimited');
  });
});

describe('reading kernel files', () => {
  it('reads unlimited in both spellings as Infinity, missing as undefined', () => {
    const root = fakeV2();
    put(root, 'a', UNLIMITED_V1 + '\n');
    put(root, 'b', 'max\n');
    put(root, 'c', '4096\n');
    put(root, 'd', '-1\n');
    expect([readNumber(join(root, 'a')), readNumber(join(root, 'b')), readNumber(join(root, 'c')), readNumber(join(root, 'd'))]).toEqual([
      Infinity, Infinity, 4096, Infinity,
    ]);
    expect(readNumber(join(root, 'nope'))).toBeUndefined();
  });

  it('parses flat keyed files', () => {
    const root = fakeV2();
    put(root, 'k', 'max 3\noom_kill 1\nweird\n\nhigh max\n');
    expect(Object.fromEntries(readKeyed(join(root, 'k')))).toEqual({ max: 3, oom_kill: 1, high: Infinity });
  });
});

describe('write errors', () => {
  it('a value the kernel refuses is INVALID and names what, value and file', () => {
    const e = cgroupWriteError('/cg/memory.limit_in_bytes', '1048576', 'memory limit 1M', errno('EBUSY'), 101);
    expect(e.code).toBe('INVALID');
    expect(e.ctid).toBe(101);
    expect(e.message).toBe('memory limit 1M refused by the kernel: EBUSY (some text) writing "1048576" to /cg/memory.limit_in_bytes');
  });

  it('a missing control file says so', () => {
    const e = cgroupWriteError('/cg/pids.max', '5', 'pids limit 5', errno('ENOENT', 'open'));
    expect(e.code).toBe('SYSTEM');
    expect(e.message).toMatch(/pids limit 5: \/cg\/pids.max does not exist/);
  });

  it('anything else is a SYSTEM error (not NO_SPACE even for ENOSPC-like codes)', () => {
    expect(cgroupWriteError('/cg/x', '1', 'x', errno('EACCES')).code).toBe('SYSTEM');
    expect(cgroupWriteError('/cg/cgroup.procs', '1', 'adding', errno('ENOSPC')).code).toBe('INVALID');
  });
});
