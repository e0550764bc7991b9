import { describe, expect, it } from 'vitest';
import { CTID_MAX, looksLikeCtid, parseCtid } from '../../../src/config/ctid.js';
import { vzError } from './helpers.js';

describe('parseCtid', () => {
  it.each([['1', 1], ['101', 101], ['2147483647', CTID_MAX], ['0101', 101], [101, 101]])('parses %j', (raw, want) => {
    expect(parseCtid(raw)).toBe(want);
  });

  it.each(['abc', '', ' 101', '101 ', '+5', '1.5', '1e3', '0x10', 'web1', '10a'])('rejects %j as SYNTAX', (raw) => {
    vzError(() => parseCtid(raw), 'SYNTAX', `invalid CTID ${JSON.stringify(raw)}`);
  });

  it.each([
    ['0', 'CTID 0 is out of range (1..2147483647)'],
    ['-5', 'CTID -5 is out of range'],
    ['2147483648', 'CTID 2147483648 is out of range'],
    ['99999999999999999999', 'CTID 99999999999999999999 is out of range'],
  ])('rejects %j as INVALID', (raw, msg) => {
    vzError(() => parseCtid(raw), 'INVALID', msg);
  });
});

describe('looksLikeCtid', () => {
  it('is true for digit strings (names can never be all digits)', () => {
    expect(looksLikeCtid('101')).toBe(true);
    expect(looksLikeCtid('0')).toBe(true);
    expect(looksLikeCtid('-5')).toBe(true);
    expect(looksLikeCtid('+5')).toBe(true);
  });

  it('is false for names', () => {
    for (const s of ['web', 'web1', '1web', '1.5', '', '10 ']) expect(looksLikeCtid(s)).toBe(false);
  });
});
