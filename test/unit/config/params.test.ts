import { describe, expect, it } from 'vitest';
import { CONFIG_ONLY, PARAMS, paramByFlag, paramByKey, parseParams } from '../../../src/config/params.js';
import { vzError } from './helpers.js';

const parse = (key: string, raw: unknown) => paramByKey(key)!.parse(raw);

describe('the table', () => {
  it('has unique keys and flags in the expected shapes', () => {
    const keys = PARAMS.map((p) => p.key);
    const flags = PARAMS.map((p) => p.flag);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(flags).size).toBe(flags.length);
    for (const p of PARAMS) {
      expect(p.key).toMatch(/^[a-z][a-z0-9_]*$/);
      // vzctl spells some flags with '_' (--netif_add): kept for its users' scripts.
      expect(p.flag).toMatch(/^[a-z][a-z0-9_-]*$/);
      expect(p.describe.length).toBeGreaterThan(0);
      expect(p.where.length).toBeGreaterThan(0);
    }
  });

  it('looks params up by key and by flag', () => {
    expect(paramByKey('stop_timeout')?.flag).toBe('stop-timeout');
    expect(paramByFlag('stop-timeout')?.key).toBe('stop_timeout');
    expect(paramByKey('stop-timeout')).toBeUndefined();
    expect(paramByFlag('nope')).toBeUndefined();
  });

  it('marks hostname as live-applied and config-only params as such', () => {
    expect(paramByKey('hostname')?.liveApply).toBe('hostname');
    expect(paramByKey('onboot')?.liveApply).toBe(CONFIG_ONLY);
  });

  it('keeps hostname, name and description out of profiles', () => {
    for (const k of ['hostname', 'name', 'description']) expect(paramByKey(k)?.where).toEqual(['create', 'set']);
    for (const k of ['onboot', 'stop_timeout']) expect(paramByKey(k)?.where).toEqual(['create', 'set', 'profile']);
  });
});

describe('hostname', () => {
  it.each([
    ['web', 'web'],
    ['web-1.example.com', 'web-1.example.com'],
    ['Web01.Example.COM', 'Web01.Example.COM'],
    ['example.com.', 'example.com'],
    ['1host', '1host'],
    ['a'.repeat(63), 'a'.repeat(63)],
    [Array(4).fill('a'.repeat(63)).join('.').slice(0, 253), Array(4).fill('a'.repeat(63)).join('.').slice(0, 253)],
  ])('accepts %s', (raw, want) => {
    expect(parse('hostname', raw)).toBe(want);
  });

  it.each([
    ['', 'empty'],
    ['.', 'empty'],
    ['-web', "start or end with '-'"],
    ['web-', "start or end with '-'"],
    ['we_b', 'letters, digits'],
    ['web..example', 'empty label'],
    ['a'.repeat(64), 'longer than 63'],
    [Array(5).fill('a'.repeat(60)).join('.'), 'longer than 253'],
    ['héllo', 'letters, digits'],
    ['web example', 'letters, digits'],
  ])('rejects %j', (raw, why) => {
    const e = vzError(() => parse('hostname', raw), 'BAD_HOSTNAME', `invalid hostname ${JSON.stringify(raw)}: `);
    expect(e.message).toContain(why);
  });

  it('rejects non-strings', () => {
    vzError(() => parse('hostname', 42), 'BAD_HOSTNAME', 'invalid hostname number 42');
    vzError(() => parse('hostname', null), 'BAD_HOSTNAME');
  });
});

describe('name', () => {
  it.each(['web', 'web-1', 'a', 'db.prod_2', '1st', '0x', 'A'.repeat(64)])('accepts %s', (raw) => {
    expect(parse('name', raw)).toBe(raw);
  });

  it.each([
    ['', '1 to 64'],
    ['a'.repeat(65), '1 to 64'],
    ['101', 'all digits'],
    ['007', 'all digits'],
    ['-web', 'start with a letter or digit'],
    ['.hidden', 'start with a letter or digit'],
    ['_x', 'start with a letter or digit'],
    ['web/1', 'may only contain'],
    ['web 1', 'may only contain'],
  ])('rejects %j', (raw, why) => {
    const e = vzError(() => parse('name', raw), 'INVALID', `invalid name ${JSON.stringify(raw)}`);
    expect(e.message).toContain(why);
  });

  it('rejects a YAML number (it would be a CTID anyway)', () => {
    vzError(() => parse('name', 101), 'INVALID');
  });
});

describe('description', () => {
  it('accepts one line up to 255 characters, unicode counted as characters', () => {
    expect(parse('description', 'Web server for ACME')).toBe('Web server for ACME');
    expect(parse('description', '')).toBe('');
    expect(parse('description', 'ü'.repeat(255))).toBe('ü'.repeat(255));
  });

  it('rejects newlines, control characters, overlong text and non-strings', () => {
    vzError(() => parse('description', 'a\nb'), 'INVALID', 'single line');
    vzError(() => parse('description', 'a\r\nb'), 'INVALID', 'single line');
    vzError(() => parse('description', 'a\tb'), 'INVALID', 'control characters');
    vzError(() => parse('description', 'x'.repeat(256)), 'INVALID', '255');
    const e = vzError(() => parse('description', 2024), 'INVALID', '"description" must be a string, got number 2024');
    expect(e.hint).toContain('quote');
  });
});

describe('onboot', () => {
  it.each([
    ['yes', true], ['no', false], ['true', true], ['false', false], ['on', true], ['off', false],
    ['1', true], ['0', false], ['YES', true], [' No ', false], [true, true], [false, false], [1, true], [0, false],
  ])('parses %j', (raw, want) => {
    expect(parse('onboot', raw)).toBe(want);
  });

  it.each(['', 'maybe', 'y', '2', 2, null, ['yes']])('rejects %j', (raw) => {
    vzError(() => parse('onboot', raw), 'INVALID', '"onboot" must be yes or no');
  });
});

describe('stop_timeout', () => {
  it.each([['1', 1], ['60', 60], ['3600', 3600], [30, 30], [' 15 ', 15]])('parses %j', (raw, want) => {
    expect(parse('stop_timeout', raw)).toBe(want);
  });

  it.each(['0', '3601', '-5', '1.5', 1.5, '10s', '', 'abc', '+5', true, null, 0])('rejects %j', (raw) => {
    vzError(() => parse('stop_timeout', raw), 'INVALID', '"stop_timeout" must be an integer in 1..3600 seconds');
  });
});

describe('parseParams', () => {
  it('parses a CLI-style map of strings', () => {
    expect(parseParams({ hostname: 'web.', onboot: 'yes', stop_timeout: '20', name: 'web' }, 'create')).toEqual({
      hostname: 'web',
      onboot: true,
      stop_timeout: 20,
      name: 'web',
    });
  });

  it('parses YAML-native values and skips undefined ones', () => {
    expect(parseParams({ onboot: false, stop_timeout: 5, description: undefined }, 'profile')).toEqual({ onboot: false, stop_timeout: 5 });
  });

  it('rejects unknown keys, suggesting the key for a flag spelling', () => {
    vzError(() => parseParams({ foo: 1 }, 'set'), 'INVALID', 'unknown parameter "foo"');
    const e = vzError(() => parseParams({ 'stop-timeout': 1 }, 'set'), 'INVALID', 'unknown parameter "stop-timeout"');
    expect(e.hint).toBe('did you mean "stop_timeout"?');
  });

  it('rejects params not allowed in that place', () => {
    vzError(() => parseParams({ hostname: 'web' }, 'profile'), 'INVALID', '"hostname" cannot be used in a profile');
  });

  it('keeps the specific code without a source', () => {
    vzError(() => parseParams({ hostname: '-x' }, 'set'), 'BAD_HOSTNAME');
  });

  it('locates errors with a source and turns them into INVALID_CONFIG', () => {
    vzError(() => parseParams({ foo: 1 }, 'profile', 'p.yaml'), 'INVALID_CONFIG', 'p.yaml: unknown key "foo"');
    vzError(() => parseParams({ stop_timeout: 'x' }, 'profile', (k) => `p.yaml:7 (${k})`), 'INVALID_CONFIG',
      'p.yaml:7 (stop_timeout): "stop_timeout" must be an integer');
    vzError(() => parseParams({ hostname: 'a_b' }, 'create', 'ct.yaml'), 'INVALID_CONFIG', 'ct.yaml: invalid hostname "a_b"');
  });
});

describe('disk limits', () => {
  it('diskspace and diskinodes take SOFT[:HARD]; one value is both; soft above hard is refused', () => {
    expect(parse('diskspace', '20M:30M')).toEqual({ soft: 20 * 2 ** 20, hard: 30 * 2 ** 20 });
    expect(parse('diskspace', '1G')).toEqual({ soft: 2 ** 30, hard: 2 ** 30 });
    expect(parse('diskspace', 'unlimited')).toEqual({ soft: null, hard: null });
    expect(parse('diskinodes', '1000:2000')).toEqual({ soft: 1000, hard: 2000 });
    vzError(() => parse('diskspace', '30M:20M'), 'INVALID');
    vzError(() => parse('diskspace', '1:2:3'), 'INVALID');
    vzError(() => parse('diskinodes', '0'), 'INVALID');
  });

  it('quotatime is whole seconds; 0 becomes 1 (XFS reads 0 as its 7-day default)', () => {
    expect(parse('quotatime', '600')).toBe(600);
    expect(parse('quotatime', 0)).toBe(1);
    vzError(() => parse('quotatime', '-1'), 'INVALID');
    vzError(() => parse('quotatime', '1h'), 'INVALID');
    expect(paramByKey('quotatime')?.liveApply).toBe('disk');
  });
});
