import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { StateDb, type NewContainer } from '../../../src/state/db.js';

const dirs: string[] = [];
const open: StateDb[] = [];

/** A fresh temp dir, removed (with every StateDb opened through openDb) after the test. */
export function tmpDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'vzkit-state-'));
  dirs.push(d);
  return d;
}

export function openDb(file = join(tmpDir(), 'state.db'), opts?: Parameters<typeof StateDb.open>[1]): StateDb {
  const db = StateDb.open(file, opts);
  open.push(db);
  return db;
}

export function ct(ctid: number, extra: Partial<NewContainer> = {}): NewContainer {
  return { ctid, ostemplate: 'debian-12-x86_64', uidSize: 65536, idmapBase: 100000, idmapCount: 16, state: 'stopped', ...extra };
}

afterEach(() => {
  for (const db of open.splice(0)) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
