import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VzError } from '../../../src/base/errors.js';
import { ct, openDb, tmpDir } from './helpers.js';

// The child is plain node (no TS loader), so bundle the real StateDb into CJS for it.
const repo = fileURLToPath(new URL('../../../', import.meta.url));
let childJs = '';

const CHILD = `
const fs = require('fs');
const { StateDb } = require('./state.cjs');
const [file, mode, arg] = process.argv.slice(2);
const say = (s) => fs.writeSync(1, s + '\\n'); // synchronous: the parent waits on these lines
const db = StateDb.open(file);
const ct = (ctid) => ({ ctid, ostemplate: 't', uidSize: 1000, idmapBase: 100000, idmapCount: 10000, state: 'stopped' });
if (mode === 'race') {
  say('ready');
  while (Date.now() < Number(arg)) {} // start together with the parent
  for (let i = 0; i < 200; i++) {
    db.insertContainer(ct(1001 + 2 * i));
    db.endOp(db.beginOp(1001 + 2 * i, 'create'), 'ok');
  }
} else if (mode === 'hold') {
  db.transaction(() => {
    db.insertContainer(ct(5000));
    say('locked');
    const end = Date.now() + Number(arg);
    while (Date.now() < end) {} // keep the write lock
  });
}
db.close();
say('done');
`;

let bundleDir = '';
afterAll(() => rmSync(bundleDir, { recursive: true, force: true }));
beforeAll(async () => {
  // own dir: helpers' tmpDir() is removed after each test
  const dir = (bundleDir = mkdtempSync(join(tmpdir(), 'vzkit-state-child-')));
  await build({
    entryPoints: [join(repo, 'src/state/db.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    packages: 'external',
    outfile: join(dir, 'state.cjs'),
    logLevel: 'error',
  });
  childJs = join(dir, 'child.cjs');
  writeFileSync(childJs, CHILD);
}, 30_000);

function child(file: string, mode: string, arg: number): { proc: ChildProcess; line: (s: string) => Promise<void>; exit: Promise<number | null> } {
  const proc = spawn(process.execPath, [childJs, file, mode, String(arg)], {
    env: { ...process.env, NODE_PATH: join(repo, 'node_modules') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const waiters: Array<[string, () => void]> = [];
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const [s, res] of waiters) if (out.split('\n').includes(s)) res();
  });
  const exit = new Promise<number | null>((res) => proc.on('exit', res));
  const line = (s: string) =>
    new Promise<void>((res, rej) => {
      waiters.push([s, res]);
      exit.then((c) => rej(new Error(`child exited ${c} before '${s}'`)));
    });
  return { proc, line, exit };
}

describe('two processes', () => {
  it('writing concurrently: no lost rows, no duplicate slots, no corruption', async () => {
    const file = join(tmpDir(), 'state.db');
    const db = openDb(file); // creates + migrates before the child opens it
    const startAt = Date.now() + 500;
    const c = child(file, 'race', startAt);
    await c.line('ready');
    while (Date.now() < startAt) {} // eslint-disable-line no-empty
    const spec = { uidSize: 1000, idmapBase: 100000, idmapCount: 10000 };
    for (let i = 0; i < 200; i++) {
      db.insertContainer(ct(1000 + 2 * i, spec));
      db.endOp(db.beginOp(1000 + 2 * i, 'create'), 'ok');
    }
    expect(await c.exit).toBe(0);

    const rows = db.listContainers();
    expect(rows).toHaveLength(400);
    expect(rows.map((r) => r.idmapSlot).sort((a, b) => a - b)).toEqual([...Array(400).keys()]);
    for (const r of rows) expect(r.uidBase).toBe(100000 + r.idmapSlot * 1000);
    for (const r of rows) expect(db.recentOps(r.ctid, 5).map((o) => o.result)).toEqual(['ok']);
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    raw.close();
  }, 20_000);

  it('a writer waits for a held lock (busy_timeout) and reports LOCKED past its timeout', async () => {
    const file = join(tmpDir(), 'state.db');
    const db = openDb(file);
    const impatient = openDb(file, { busyTimeoutMs: 100 });
    const c = child(file, 'hold', 800);
    await c.line('locked');

    let t = Date.now();
    let err: unknown;
    try {
      impatient.insertContainer(ct(101));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VzError);
    expect((err as VzError).code).toBe('LOCKED');
    expect(Date.now() - t).toBeGreaterThanOrEqual(90);

    t = Date.now();
    expect(db.insertContainer(ct(102)).idmapSlot).toBe(1); // child's CT 5000 got slot 0
    expect(Date.now() - t).toBeGreaterThan(200); // it really waited for the child's commit
    expect(await c.exit).toBe(0);
    expect(db.getContainer(5000)?.idmapSlot).toBe(0);
    expect(db.getContainer(101)).toBeUndefined();
  }, 20_000);
});
