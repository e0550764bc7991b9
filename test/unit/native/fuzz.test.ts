/**
 * The native helper's own fuzz test: a seeded loop in C (test/unit/native/fuzz/) built with
 * gcc -fsanitize=address,undefined over ctspawn's JSON parser and writer (native/json.c), its
 * device-rule compiler (native/devices.c, rules -> eBPF) and its two seccomp filters
 * (native/harden.c through libseccomp, native/seccomp_notify.c). Each target checks properties
 * (see the head of each fuzz-*.c): documents parse back exactly and truncations are refused
 * without a read past the end; programs pass the kernel's load-time checks, are loaded by the
 * kernel (as root), and give the policy's verdict, interpreted and, for seccomp, from the real
 * kernel in a child. Any sanitizer report or broken property fails the test. The seed is fixed
 * so a failure repeats (FUZZ_SEED overrides; FUZZ_SCALE multiplies the iterations).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SEED = process.env.FUZZ_SEED ?? '20261207';
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const ITERS = { json: 10_000, devices: 10_000, seccomp: 300 };
const isRoot = process.getuid?.() === 0;

describe('native fuzz (ASan + UBSan, seeded)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-native-fuzz-'));
  const exe = path.join(dir, 'fuzz');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  beforeAll(() => {
    const src = path.join(REPO, 'test/unit/native/fuzz');
    const files = fs.readdirSync(src).filter((f) => f.endsWith('.c')).map((f) => path.join(src, f));
    const cc = spawnSync('gcc', ['-std=gnu11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', '-O1', '-g', '-fno-omit-frame-pointer',
      '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-I', path.join(REPO, 'native'), '-I', src, '-o', exe,
      ...files, path.join(REPO, 'native/json.c'), path.join(REPO, 'native/harden.c'), '-lseccomp'], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`gcc (gcc and libseccomp-dev installed? sh scripts/setup.sh): ${cc.stderr}`);
  }, 120_000);

  /** Runs one target; returns its summary line. Fails on a non-zero exit or any sanitizer output. */
  function fuzz(target: keyof typeof ITERS): string {
    const iters = Math.max(1, Math.round(ITERS[target] * SCALE));
    const r = spawnSync(exe, [target, SEED, String(iters)], {
      encoding: 'utf8',
      timeout: 600_000,
      env: {
        ...process.env,
        ASAN_OPTIONS: 'detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86',
        UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1:exitcode=87',
      },
    });
    const report = `${r.stdout}\n${r.stderr}`.slice(-6000);
    expect(r.stderr, report).not.toMatch(/AddressSanitizer|LeakSanitizer|runtime error:|PROPERTY FAILED/);
    expect(r.status, report).toBe(0);
    return r.stdout.trim();
  }

  const counts = (line: string): number[] => [...line.matchAll(/(\d+)/g)].map((m) => Number(m[1]));

  it('json.c: valid documents parse back exactly, truncations and repeated keys are refused, the writer round-trips', () => {
    const line = fuzz('json');
    expect(line).toMatch(/^json: \d+ documents/);
    const [docs, , truncs, dups, mutOk, mutBad, rndOk, rndBad, writes] = counts(line);
    expect(docs).toBe(Math.round(ITERS.json * SCALE));
    expect(dups).toBe(docs);
    expect(writes).toBe(docs);
    expect(truncs).toBeGreaterThan(docs * 4);
    // Both outcomes were reached from mutated and random inputs, so both paths were checked.
    for (const n of [mutOk, mutBad, rndOk, rndBad]) expect(n).toBeGreaterThan(0);
  }, 600_000);

  it('devices.c: compiled programs verify, match the policy, never loosen, and load into the kernel (1024 rules too)', () => {
    const line = fuzz('devices');
    expect(line).toMatch(/^devices: \d+ rule lists compiled/);
    const [lists, , holes, malformed, verdicts, last, mono, loaded] = counts(line);
    expect(lists + holes).toBe(Math.round(ITERS.devices * SCALE));
    expect(malformed).toBe(lists + holes);
    for (const n of [holes, verdicts, last, mono]) expect(n).toBeGreaterThan(0);
    if (isRoot) expect(loaded).toBeGreaterThan(lists / 8);
  }, 600_000);

  it('harden.c and seccomp_notify.c: filters pass the kernel checks and give the documented verdicts, interpreted and in the kernel', () => {
    const line = fuzz('seccomp');
    expect(line).toMatch(/^seccomp: \d+ deny filters built/);
    const [filters, masks, unknown, verdicts, kernel] = counts(line);
    expect(filters + unknown).toBe(Math.round(ITERS.seccomp * SCALE));
    expect(masks).toBe(filters);
    expect(unknown).toBeGreaterThan(0);
    expect(verdicts).toBeGreaterThan(filters * 100);
    if (isRoot) expect(kernel).toBe(filters + 1);
  }, 600_000);
});
