import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VzError } from '../../../src/base/errors.js';
import { StateDb } from '../../../src/state/db.js';
import { MIGRATIONS, migrate, SCHEMA_VERSION } from '../../../src/state/migrations.js';
import { ct, openDb, tmpDir } from './helpers.js';

function raw(file: string): Database.Database {
  return new Database(file);
}

describe('migrations', () => {
  it('are numbered 1..N without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
  });

  it('create the schema on a fresh file and set user_version', () => {
    const file = join(tmpDir(), 'state.db');
    openDb(file).close();
    const r = raw(file);
    const tables = r.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(['containers', 'ip_addresses', 'job_runs', 'jobs', 'oplog', 'params', 'transitions']);
    expect(r.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(r.pragma('journal_mode', { simple: true })).toBe('wal'); // persistent in the file
    r.close();
  });

  it('are idempotent on reopen and keep the data', () => {
    const file = join(tmpDir(), 'state.db');
    const a = openDb(file);
    a.insertContainer(ct(101, { name: 'web' }));
    a.close();
    const b = openDb(file);
    expect(b.getContainer(101)?.name).toBe('web');
    b.close();
    const r = raw(file);
    migrate(r, file); // again on a current db: no-op
    expect(r.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(r.prepare('SELECT count(*) FROM containers').pluck().get()).toBe(1);
    r.close();
  });

  it('sets the per-connection pragmas', () => {
    const db = openDb();
    const conn = Reflect.get(db, 'db') as Database.Database;
    expect(conn.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(conn.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(conn.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
  });

  it('refuse a database from a newer vzkit, read-write and readonly', () => {
    const file = join(tmpDir(), 'state.db');
    openDb(file).close();
    const r = raw(file);
    r.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    r.close();
    for (const readonly of [false, true]) {
      const err = (() => {
        try {
          StateDb.open(file, { readonly });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(VzError);
      expect((err as VzError).code).toBe('NOCONFIG');
      expect((err as VzError).message).toMatch(/newer|knows up to/);
    }
  });
});
