import type { Database } from 'better-sqlite3';
import { VzError } from '../base/errors.js';

/**
 * Schema migrations, applied in order, one transaction each; `PRAGMA user_version` holds the
 * last applied version. Never edit a released migration: append a new one.
 * Tables are not STRICT on purpose, so an admin's older sqlite3 CLI (< 3.37) can still read them.
 */
export interface Migration {
  version: number;
  up: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE containers (
        ctid INTEGER PRIMARY KEY,
        name TEXT UNIQUE,
        ostemplate TEXT NOT NULL,
        profile TEXT,
        idmap_slot INTEGER NOT NULL UNIQUE,
        uid_base INTEGER NOT NULL,
        uid_size INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        state TEXT NOT NULL, -- creating | stopped | starting | running | stopping | destroying | suspended
        state_changed_at TEXT NOT NULL
      );
      CREATE TABLE params (
        ctid INTEGER REFERENCES containers ON DELETE CASCADE,
        key TEXT,
        value TEXT, -- JSON
        PRIMARY KEY (ctid, key)
      );
      -- No FK: history outlives the CT.
      CREATE TABLE transitions (
        id INTEGER PRIMARY KEY, ctid INTEGER, from_state TEXT, to_state TEXT, at TEXT, reason TEXT
      );
      CREATE INDEX transitions_ctid ON transitions (ctid, id);
      CREATE TABLE oplog (
        id INTEGER PRIMARY KEY, ctid INTEGER, op TEXT, started_at TEXT, ended_at TEXT,
        result TEXT, -- ok | error | running
        detail TEXT, pid INTEGER
      );
      CREATE INDEX oplog_ctid ON oplog (ctid, id);
      CREATE TABLE ip_addresses (
        ip TEXT PRIMARY KEY,
        ctid INTEGER REFERENCES containers ON DELETE CASCADE,
        kind TEXT
      );
      CREATE INDEX ip_addresses_ctid ON ip_addresses (ctid);
      CREATE TABLE jobs (
        id INTEGER PRIMARY KEY, name TEXT UNIQUE, kind TEXT, schedule TEXT, ctids TEXT, options TEXT,
        enabled INTEGER
      );
      CREATE TABLE job_runs (
        id INTEGER PRIMARY KEY,
        job_id INTEGER REFERENCES jobs ON DELETE CASCADE,
        started_at TEXT, ended_at TEXT, result TEXT, detail TEXT
      );
      CREATE INDEX job_runs_job ON job_runs (job_id, id);
    `,
  },
  {
    // vzd (issue 8): when a job was created and last fired (for --repeat-missed), and per run the
    // container, what started it, its size, archive, error and the pid that ran it.
    version: 2,
    up: `
      ALTER TABLE jobs ADD COLUMN created_at TEXT;
      ALTER TABLE jobs ADD COLUMN last_fire TEXT;
      ALTER TABLE job_runs ADD COLUMN ctid INTEGER;
      ALTER TABLE job_runs ADD COLUMN trigger TEXT; -- schedule | missed | manual
      ALTER TABLE job_runs ADD COLUMN duration_ms INTEGER;
      ALTER TABLE job_runs ADD COLUMN size INTEGER;
      ALTER TABLE job_runs ADD COLUMN archive TEXT;
      ALTER TABLE job_runs ADD COLUMN error TEXT;
      ALTER TABLE job_runs ADD COLUMN pid INTEGER;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export function tooNew(file: string, v: number): VzError {
  return new VzError('NOCONFIG', `state database ${file} has schema v${v}; this vzkit knows up to v${SCHEMA_VERSION}`, {
    hint: 'upgrade vzkit (downgrading over a newer state database is not supported)',
  });
}

/** Brings `db` to SCHEMA_VERSION. Cheap when already current: one pragma read. */
export function migrate(db: Database, file: string): void {
  const start = schemaVersion(db);
  if (start === SCHEMA_VERSION) return;
  if (start > SCHEMA_VERSION) throw tooNew(file, start);
  for (const m of MIGRATIONS) {
    // IMMEDIATE + re-read inside: two processes opening a fresh db must not both apply `m`.
    db.transaction(() => {
      const v = schemaVersion(db);
      if (v >= m.version) return;
      db.exec(m.up);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}
