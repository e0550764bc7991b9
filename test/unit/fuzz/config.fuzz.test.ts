/**
 * Seeded property-based fuzzing (fast-check) of what reads user input: the YAML loaders (global
 * config, OS templates, profiles), the parameter table and the name validators. Whatever comes
 * in, the result is a value or a VzError with a stable exit code and a one-line message; never
 * another exception, never a stack. The seed is fixed so a failure repeats (FUZZ_SEED overrides,
 * FUZZ_RUNS scales).
 */
import { describe, it, expect, afterAll } from 'vitest';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dump } from 'js-yaml';
import { ErrorCode, VzError } from '../../../src/base/errors.js';
import { PARAMS, parseParams } from '../../../src/config/params.js';
import { loadOsTemplate, loadProfile } from '../../../src/config/templates.js';
import { loadGlobalConfig } from '../../../src/config/global.js';
import { parseCtid } from '../../../src/config/ctid.js';
import { parseCtName, parseHostname } from '../../../src/config/names.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const CODES = new Set<number>(Object.values(ErrorCode));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-fuzz-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs f; a VzError must be one line with a known exit code; anything else thrown is a bug. */
function clean(f: () => unknown): { ok: true } | { ok: false; code: number } {
  try {
    f();
    return { ok: true };
  } catch (e) {
    if (!(e instanceof VzError)) throw new Error(`not a VzError: ${(e as Error)?.stack ?? String(e)}`);
    expect(CODES.has(e.exit)).toBe(true);
    expect(e.message).not.toMatch(/\n/);
    expect(e.message).not.toMatch(/\bat .*\(.*:\d+:\d+\)/); // no stack frames in a message
    expect(e.message.length).toBeGreaterThan(0);
    return { ok: false, code: e.exit };
  }
}

// Values a careless admin or a hostile script might write: scalars, odd strings, nesting.
const nasty = fc.oneof(
  fc.constantFrom('../../etc/passwd', '/etc/shadow', '..', '.', '', ' ', '\u0000', '\n', '-1', '1e309', 'NaN', '0x10', '1G:2G:3G', 'unlimited', '∞', '%s%n', '${HOME}', '`id`', '$(reboot)', 'yes', 'no', 'null', '~', '1K', '99999999999999999999T'),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, nasty, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 12 }), tie('v'), { maxKeys: 4 })),
})).v;
const keys = fc.oneof(fc.constantFrom(...PARAMS.map((p) => p.key), 'build', 'type', 'suite', 'init', 'defaults', 'root', 'node', 'idmap', 'description'), fc.string({ maxLength: 12 }));
const doc = fc.dictionary(keys, value, { maxKeys: 6 });

describe('fuzz: the parameter table', () => {
  it('parseParams never throws anything but a one-line VzError', () => {
    fc.assert(
      fc.property(doc, fc.constantFrom('create', 'set', 'profile') as fc.Arbitrary<'create' | 'set' | 'profile'>, (d, where) => {
        clean(() => parseParams(d, where));
      }),
      { seed: SEED, numRuns: RUNS * 3 },
    );
  });

  it('each parameter parser alone, with any value', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PARAMS), value, (p, v) => {
        clean(() => p.parse(v));
      }),
      { seed: SEED, numRuns: RUNS * 3 },
    );
  });
});

describe('fuzz: YAML files', () => {
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
    fs.writeFileSync(path.join(tmp, rel), text);
  };
  // Valid YAML of random structure, and raw bytes that are mostly not YAML at all.
  const text = fc.oneof(
    doc.map((d) => dump(d, { skipInvalid: true })),
    fc.string({ maxLength: 200 }),
    fc.constantFrom('a: [', '{', 'a: *x', '!!js/function "x"', 'a: !!binary |\n  @@@', '- - - -', 'a:\n\tb: 1', '\ufeffa: 1', 'a: 1\na: 2', '%YAML 9.9\n---\na: 1'),
  );

  it('OS templates and profiles: loaded or refused with file:line, never a crash', () => {
    fc.assert(
      fc.property(text, (t) => {
        write('os/f.yaml', t);
        write('profiles/f.yaml', t);
        const a = clean(() => loadOsTemplate(tmp, 'f'));
        const b = clean(() => loadProfile(tmp, 'f'));
        for (const r of [a, b]) if (!r.ok) expect([ErrorCode.INVALID_CONFIG, ErrorCode.INVALID, ErrorCode.TEMPLATE_NOT_FOUND]).toContain(r.code);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('the global config: loaded or refused with file:line, never a crash', () => {
    fc.assert(
      fc.property(text, (t) => {
        write('vzkit.yaml', t);
        const r = clean(() => loadGlobalConfig({ VZKIT_CONFIG: path.join(tmp, 'vzkit.yaml') }));
        if (!r.ok) expect([ErrorCode.INVALID_CONFIG, ErrorCode.INVALID, ErrorCode.NOCONFIG]).toContain(r.code);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

describe('fuzz: names and path traversal', () => {
  const traversal = fc.oneof(
    fc.constantFrom('../x', '..', 'a/../../b', '/etc', 'a/b', 'x\u0000y', '.hidden', 'a\\..\\b', '%2e%2e%2f'),
    fc.tuple(fc.string({ maxLength: 8 }), fc.constantFrom('/', '..', '\u0000'), fc.string({ maxLength: 8 })).map(([a, s, b]) => a + s + b),
  );

  it('a template or profile name with a path in it is never opened', () => {
    fc.assert(
      fc.property(traversal, (name) => {
        const r = clean(() => loadOsTemplate(tmp, name));
        expect(r.ok).toBe(false);
        const q = clean(() => loadProfile(tmp, name));
        expect(q.ok).toBe(false);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('CTIDs, container names and hostnames are validated; a path never passes', () => {
    fc.assert(
      fc.property(fc.oneof(traversal, fc.string({ maxLength: 30 }), fc.integer().map(String)), (s) => {
        const id = clean(() => parseCtid(s));
        if (id.ok) expect(s).toMatch(/^\s*\d+\s*$/);
        const nm = clean(() => parseCtName(s));
        if (nm.ok) expect(s).not.toMatch(/[/\u0000]|\.\./);
        const hn = clean(() => parseHostname(s));
        if (hn.ok) expect(s).not.toMatch(/[/\u0000 ]/);
      }),
      { seed: SEED, numRuns: RUNS * 3 },
    );
  });
});
