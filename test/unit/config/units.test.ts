import { describe, expect, it } from 'vitest';
import { formatSize, parseSignal as parseSignalFromUnits, parseSize } from '../../../src/config/units.js';
import { parseSignal, signalNumber, toStringList } from '../../../src/config/values.js';
import { vzError } from './helpers.js';

const K = 1024;
const M = K * K;
const G = M * K;

describe('parseSize', () => {
  it.each([
    ['0', 0],
    ['4096', 4096],
    [4096, 4096],
    [0, 0],
    ['512B', 512],
    ['64K', 64 * K],
    ['64k', 64 * K],
    ['64KB', 64 * K],
    ['64M', 64 * M],
    ['64m', 64 * M],
    ['64MB', 64 * M],
    ['64mb', 64 * M],
    ['64MiB', 64 * M],
    ['2G', 2 * G],
    ['1.5G', 1.5 * G],
    ['0.5M', 512 * K],
    ['1T', 1024 * G],
    ['1.0001K', 1024], // truncated to whole bytes, as vzctl does
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ])('parses %j', (raw, want) => {
    expect(parseSize(raw)).toBe(want);
  });

  it('accepts unlimited only when allowed', () => {
    expect(parseSize('unlimited', { allowUnlimited: true })).toBeNull();
    expect(parseSize('Unlimited', { allowUnlimited: true })).toBeNull();
    vzError(() => parseSize('unlimited'), 'INVALID', 'invalid size "unlimited": "unlimited" is not allowed here');
  });

  it.each([
    ['64X', 'suffix'],
    // Blanks anywhere (issue 13: '64 M' was 64M), tabs and newlines too.
    ['64 M', 'blank'],
    [' 64M', 'blank'],
    ['64M ', 'blank'],
    ['64\tM', 'blank'],
    ['64M\n', 'blank'],
    ['6 4M', 'blank'],
    ['1.5 G', 'blank'],
    ['64 MiB', 'blank'],
    [' unlimited', 'blank'],
    ['', 'empty'],
    ['  ', 'empty'],
    ['-1', 'negative'],
    ['-64M', 'negative'],
    [-1, 'non-negative'],
    ['M', 'suffix'],
    ['1.5', 'whole number'],
    [1.5, 'whole number'],
    ['1e9', 'suffix'],
    ['0x10', 'suffix'],
    ['+5', 'suffix'],
    ['.5G', 'suffix'],
    ['64MBB', 'suffix'],
    ['64P', 'suffix'],
    ['8192T', 'too large'],
    ['99999999999999999999', 'too large'],
    [Number.MAX_SAFE_INTEGER + 1, 'too large'],
    [Infinity, 'non-negative'],
    [NaN, 'non-negative'],
  ])('rejects %j', (raw, why) => {
    const e = vzError(() => parseSize(raw), 'INVALID', `invalid size ${JSON.stringify(String(raw))}: `);
    expect(e.message).toContain(why);
  });

  it('rejects non-string, non-number input from YAML', () => {
    vzError(() => parseSize(true as unknown as string), 'INVALID', 'invalid size boolean true: expected a number or a size');
  });

  it('formats sizes back into the shortest exact form', () => {
    expect(formatSize(64 * M)).toBe('64M');
    expect(formatSize(1.5 * G)).toBe('1536M');
    expect(formatSize(1000)).toBe('1000');
    expect(formatSize(0)).toBe('0');
    expect(formatSize(null)).toBe('unlimited');
    expect(parseSize(formatSize(3 * 1024 * G)!)).toBe(3 * 1024 * G);
  });
});

describe('parseSignal', () => {
  it.each([
    ['SIGUSR1', 'SIGUSR1'],
    ['USR1', 'SIGUSR1'],
    ['usr1', 'SIGUSR1'],
    ['sigterm', 'SIGTERM'],
    [10, 'SIGUSR1'],
    ['15', 'SIGTERM'],
    ['SIGIOT', 'SIGABRT'], // aliases normalize to one name
    [6, 'SIGABRT'],
    ['SIGPWR', 'SIGPWR'],
    ['SIGRTMIN+3', 'SIGRTMIN+3'],
    ['RTMIN+3', 'SIGRTMIN+3'],
    [37, 'SIGRTMIN+3'],
    ['SIGRTMAX', 'SIGRTMAX-0'],
    ['SIGRTMAX-2', 'SIGRTMAX-2'],
  ])('parses %j', (raw, want) => {
    expect(parseSignal(raw)).toBe(want);
  });

  it.each(['SIGFOO', '', 0, 65, '99', 'SIGRTMIN+31', 'SIGRTMIN-1', true, null])('rejects %j', (raw) => {
    vzError(() => parseSignal(raw, 'halt_signal'), 'INVALID', 'invalid halt_signal');
  });

  it('gives the kill(2) number for a name', () => {
    expect(signalNumber('SIGUSR1')).toBe(10);
    expect(signalNumber('SIGRTMIN+3')).toBe(37);
    expect(signalNumber('SIGRTMAX-0')).toBe(64);
  });

  it('is also exported from units.ts', () => {
    expect(parseSignalFromUnits).toBe(parseSignal);
  });
});

describe('toStringList', () => {
  it('takes a YAML sequence or a comma/space separated string', () => {
    expect(toStringList(['/sbin/init', '--x'], 'init')).toEqual(['/sbin/init', '--x']);
    expect(toStringList('a, b c,,d', 'l')).toEqual(['a', 'b', 'c', 'd']);
    expect(toStringList('', 'l')).toEqual([]);
  });

  it('rejects non-string items and other types', () => {
    vzError(() => toStringList(['a', 1], 'l'), 'INVALID', '"l" item 2 must be a string, got number 1');
    vzError(() => toStringList({ a: 1 }, 'l'), 'INVALID', '"l" must be a list, got a mapping');
  });
});
