import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import fs, { existsSync } from 'node:fs';
import { VzError } from '../base/errors.js';
import { migrate, schemaVersion, SCHEMA_VERSION, tooNew } from './migrations.js';
import { sqliteCode, toVzError } from './sqlerr.js';
import { JobStore } from './jobs.js';
import type { ContainerRow, CtState, NewContainer, OpResult, OpRow, TransitionRow } from './types.js';

export * from './types.js';
export type { JobRow, JobRunRow, NewJob } from './jobs.js';

export interface OpenOptions {
  /** Never writes, never creates the file, never migrates. */
  readonly?: boolean;
  /** How long a query waits for another process's write lock before failing with LOCKED. */
  busyTimeoutMs?: number;
}

const CT_COLS = `ctid, name, ostemplate, profile, idmap_slot AS idmapSlot, uid_base AS uidBase,
  uid_size AS uidSize, created_at AS createdAt, state, state_changed_at AS stateChangedAt`;
const OP_COLS = `id, ctid, op, started_at AS startedAt, ended_at AS endedAt, result, detail, pid`;
const TR_COLS = `id, ctid, from_state AS fromState, to_state AS toState, at, reason`;

// Lowest slot not in use: 0 if free, else the smallest used slot whose successor is free.
const FREE_SLOT = `SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM containers WHERE idmap_slot = 0) THEN 0
  ELSE (SELECT MIN(c.idmap_slot) + 1 FROM containers c
        WHERE NOT EXISTS (SELECT 1 FROM containers n WHERE n.idmap_slot = c.idmap_slot + 1)) END AS slot`;
const ADD_TRANSITION = 'INSERT INTO transitions (ctid, from_state, to_state, at, reason) VALUES (?, ?, ?, ?, ?)';

const now = (): string => new Date().toISOString();

function notFound(ctid: number): VzError {
  return new VzError('NOT_FOUND', `CT ${ctid} does not exist`, { ctid });
}

/**
 * The host's container state (one SQLite file, WAL). All methods are synchronous; statements are
 * prepared on first use and cached, so opening stays cheap for the hot read-only CLI paths.
 *
 * Readonly open of a missing (or not yet initialised) file does NOT create it: it yields an
 * empty, query-only in-memory database, so `list`/`status` on a fresh host show "no containers".
 */
/**
 * The addon's path, handed to better-sqlite3 so it skips the `bindings` package's search of
 * several directories on every start (a hot-path cost of status and list).
 */
let binding: string | null | undefined;
function nativeBinding(): string | undefined {
  if (binding === undefined) {
    try {
      const pkg = createRequire(import.meta.url).resolve('better-sqlite3/package.json');
      const p = join(dirname(pkg), 'build', 'Release', 'better_sqlite3.node');
      binding = existsSync(p) ? p : null;
    } catch {
      binding = null;
    }
  }
  return binding ?? undefined;
}

/**
 * The node's state is root's alone (0600): it names every tenant, address and job. A new file is
 * made 0600 before SQLite opens it (SQLite gives -wal and -shm the mode of the database file);
 * files of an older node (0644) are fixed here.
 */
function rootOnly(file: string): void {
  if (file === ':memory:') return;
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600));
  } catch {
    return; // SQLite reports what is wrong with the path
  }
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    try {
      if ((fs.statSync(f).mode & 0o077) !== 0) fs.chmodSync(f, 0o600);
    } catch {
      // not there
    }
  }
}

function canRead(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

export class StateDb {
  private readonly stmts = new Map<string, Database.Statement<unknown[], unknown>>();
  private runner?: Database.Transaction<(fn: () => unknown) => unknown>;
  private jobStore?: JobStore;

  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
    readonly readonly: boolean,
  ) {}

  static open(file: string, opts: OpenOptions = {}): StateDb {
    const ro = opts.readonly ?? false;
    if (ro && !existsSync(file)) return StateDb.empty(file);
    let db: Database.Database | undefined;
    if (!ro) rootOnly(file);
    try {
      // `timeout` is better-sqlite3's busy_timeout; set at open so the pragmas below wait too.
      db = new Database(file, { readonly: ro, fileMustExist: ro, timeout: opts.busyTimeoutMs ?? 5000, nativeBinding: nativeBinding() });
      if (!ro) {
        db.pragma('journal_mode = WAL'); // persistent in the file; readers pick it up
        db.pragma('synchronous = NORMAL'); // WAL + NORMAL: durable except the last commits on power loss
      }
      db.pragma('foreign_keys = ON');
      if (ro) {
        const v = schemaVersion(db);
        if (v === 0) return (db.close(), StateDb.empty(file)); // a writer is creating it right now
        if (v > SCHEMA_VERSION) throw tooNew(file, v);
        if (v < SCHEMA_VERSION) {
          throw new VzError('NOCONFIG', `state database ${file} has an old schema (v${v}, need v${SCHEMA_VERSION})`, {
            hint: 'run any vzkit command that changes a container; it upgrades the schema',
          });
        }
      } else {
        migrate(db, file);
      }
      return new StateDb(db, file, ro);
    } catch (e) {
      db?.close();
      if (e instanceof VzError) throw e;
      if (sqliteCode(e) === 'SQLITE_CANTOPEN' && !canRead(file)) {
        throw new VzError('SYSTEM', `state database ${file} is root's alone (mode 0600): run this command as root`, { cause: e });
      }
      const m = sqliteCode(e) ? toVzError(e, file) : e;
      throw m instanceof VzError ? m : new VzError('SYSTEM', `cannot open state database ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  private static empty(file: string): StateDb {
    const db = new Database(':memory:');
    migrate(db, ':memory:');
    db.pragma('query_only = ON');
    return new StateDb(db, file, true);
  }

  /** Runs `fn` atomically (nested calls become savepoints). `fn` must be synchronous. */
  transaction<T>(fn: () => T): T {
    this.runner ??= this.db.transaction((f: () => unknown) => f());
    // IMMEDIATE takes the write lock up front: a deferred read-then-write in WAL fails with
    // SQLITE_BUSY_SNAPSHOT when another process committed in between, and busy_timeout can't help.
    return this.guard(() => (this.readonly ? this.runner!(fn) : this.runner!.immediate(fn)) as T);
  }

  getContainer(ctid: number): ContainerRow | undefined {
    return this.guard(() => this.get<ContainerRow>(`SELECT ${CT_COLS} FROM containers WHERE ctid = ?`, ctid));
  }

  findByName(name: string): ContainerRow | undefined {
    return this.guard(() => this.get<ContainerRow>(`SELECT ${CT_COLS} FROM containers WHERE name = ?`, name));
  }

  listContainers(): ContainerRow[] {
    return this.guard(() => this.all<ContainerRow>(`SELECT ${CT_COLS} FROM containers ORDER BY ctid`));
  }

  /** Inserts a CT on the lowest free idmap slot; records a creation transition. */
  insertContainer(c: NewContainer): ContainerRow {
    return this.transaction(() => {
      const slot = c.slot ?? this.get<{ slot: number }>(FREE_SLOT)!.slot;
      if (c.slot !== undefined && (c.slot < 0 || !Number.isInteger(c.slot) || this.get('SELECT 1 FROM containers WHERE idmap_slot = ?', c.slot))) {
        throw new VzError('SYSTEM', `uid range slot ${c.slot} is not free on this node`, { ctid: c.ctid });
      }
      if (slot >= c.idmapCount) {
        throw new VzError('SYSTEM', `no free uid range: all ${c.idmapCount} idmap slots are in use`, {
          ctid: c.ctid,
          hint: 'destroy unused containers or raise the idmap slot count in the global config',
        });
      }
      const at = now();
      try {
        this.run(
          `INSERT INTO containers (ctid, name, ostemplate, profile, idmap_slot, uid_base, uid_size, created_at, state, state_changed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          c.ctid, c.name ?? null, c.ostemplate, c.profile ?? null, slot, c.idmapBase + slot * c.uidSize, c.uidSize, at, c.state, at,
        );
      } catch (e) {
        throw this.conflict(e, c.ctid, c.name);
      }
      this.run(ADD_TRANSITION, c.ctid, null, c.state, at, 'created');
      return this.get<ContainerRow>(`SELECT ${CT_COLS} FROM containers WHERE ctid = ?`, c.ctid)!;
    });
  }

  /** True when no CT holds this idmap slot (migration preflight). */
  slotFree(slot: number): boolean {
    return this.guard(() => !this.get('SELECT 1 FROM containers WHERE idmap_slot = ?', slot));
  }

  /** Deletes the CT (params and IPs cascade); returns false if it did not exist. */
  deleteContainer(ctid: number): boolean {
    return this.transaction(() => {
      const cur = this.get<{ state: CtState }>('SELECT state FROM containers WHERE ctid = ?', ctid);
      if (!cur) return false;
      this.run('DELETE FROM containers WHERE ctid = ?', ctid);
      this.run(ADD_TRANSITION, ctid, cur.state, null, now(), 'deleted');
      return true;
    });
  }

  /** Moves the CT to `to` and records the transition; a no-op if it is already there. */
  setState(ctid: number, to: CtState, reason?: string): void {
    this.transaction(() => {
      const cur = this.get<{ state: CtState }>('SELECT state FROM containers WHERE ctid = ?', ctid);
      if (!cur) throw notFound(ctid);
      if (cur.state === to) return;
      const at = now();
      this.run('UPDATE containers SET state = ?, state_changed_at = ? WHERE ctid = ?', to, at, ctid);
      this.run(ADD_TRANSITION, ctid, cur.state, to, at, reason ?? null);
    });
  }

  setName(ctid: number, name: string | null): void {
    this.transaction(() => {
      let changes: number;
      try {
        changes = this.run('UPDATE containers SET name = ? WHERE ctid = ?', name, ctid).changes;
      } catch (e) {
        throw this.conflict(e, ctid, name);
      }
      if (changes === 0) throw notFound(ctid);
    });
  }

  /** The template and profile a container came from (a restore over it replaces them). */
  setOrigin(ctid: number, ostemplate: string, profile: string | null): void {
    this.guard(() => this.run('UPDATE containers SET ostemplate = ?, profile = ? WHERE ctid = ?', ostemplate, profile, ctid));
  }

  /** Jobs and their runs (src/state/jobs.ts), on this connection. */
  jobs(): JobStore {
    return (this.jobStore ??= new JobStore(this.db, (fn) => this.guard(fn), (fn) => this.transaction(fn)));
  }

  /** All params of the CT, JSON-decoded ({} for an unknown CT). */
  getParams(ctid: number): Record<string, unknown> {
    return this.guard(() => {
      const out: Record<string, unknown> = {};
      for (const r of this.all<{ key: string; value: string }>('SELECT key, value FROM params WHERE ctid = ? ORDER BY key', ctid)) {
        out[r.key] = JSON.parse(r.value);
      }
      return out;
    });
  }

  /**
   * Upserts params (JSON-encoded) in one transaction; a value of `undefined` deletes the key.
   * The values are encoded before the write lock is taken: however long that takes, no other
   * command on the node waits for it (they would fail with LOCKED after their busy timeout).
   */
  setParams(ctid: number, params: Record<string, unknown>): void {
    const rows: Array<[string, string | undefined]> = [];
    for (const [key, v] of Object.entries(params)) {
      if (v === undefined) {
        rows.push([key, undefined]);
        continue;
      }
      let json: string | undefined;
      try {
        json = JSON.stringify(v);
      } catch {
        // BigInt or cyclic value: falls through to the error below
      }
      if (json === undefined) throw new VzError('INVALID', `parameter ${key}: value cannot be stored as JSON`, { ctid });
      rows.push([key, json]);
    }
    this.transaction(() => {
      if (!this.get('SELECT 1 FROM containers WHERE ctid = ?', ctid)) throw notFound(ctid);
      for (const [key, json] of rows) {
        if (json === undefined) this.run('DELETE FROM params WHERE ctid = ? AND key = ?', ctid, key);
        else {
          this.run(
            'INSERT INTO params (ctid, key, value) VALUES (?, ?, ?) ON CONFLICT (ctid, key) DO UPDATE SET value = excluded.value',
            ctid, key, json,
          );
        }
      }
    });
  }

  /**
   * Makes `addrs` the container's addresses in one IMMEDIATE transaction. The primary key on
   * the address does the conflict check, so two processes adding the same address at once
   * cannot both succeed: the loser gets IP_IN_USE (vzctl's 78) and nothing of its set changes.
   */
  setIps(ctid: number, addrs: ReadonlyArray<{ ip: string; kind: string }>): void {
    this.transaction(() => {
      this.run('DELETE FROM ip_addresses WHERE ctid = ?', ctid);
      for (const a of addrs) {
        try {
          this.run('INSERT INTO ip_addresses (ip, ctid, kind) VALUES (?, ?, ?)', a.ip, ctid, a.kind);
        } catch (e) {
          const code = sqliteCode(e);
          if (code !== 'SQLITE_CONSTRAINT_PRIMARYKEY' && code !== 'SQLITE_CONSTRAINT_UNIQUE') throw e;
          const owner = this.get<{ ctid: number }>('SELECT ctid FROM ip_addresses WHERE ip = ?', a.ip);
          if (owner?.ctid === ctid) continue; // listed twice
          throw new VzError('IP_IN_USE', `IP address ${a.ip} is already in use by CT ${owner?.ctid ?? '?'}`, { ctid, cause: e });
        }
      }
    });
  }

  /** Addresses in use on the node (all containers, or one), with the interface that has them. */
  listIps(ctid?: number): Array<{ ip: string; ctid: number; kind: string }> {
    return this.guard(() =>
      ctid === undefined
        ? this.all('SELECT ip, ctid, kind FROM ip_addresses ORDER BY ctid, rowid')
        : this.all('SELECT ip, ctid, kind FROM ip_addresses WHERE ctid = ? ORDER BY rowid', ctid),
    );
  }

  /** Logs the start of an operation (result 'running', this pid); returns its id for endOp. */
  beginOp(ctid: number | null, op: string): number {
    return this.guard(() => {
      const r = this.run("INSERT INTO oplog (ctid, op, started_at, result, pid) VALUES (?, ?, ?, 'running', ?)", ctid, op, now(), process.pid);
      return Number(r.lastInsertRowid);
    });
  }

  endOp(id: number, result: Exclude<OpResult, 'running'>, detail?: string): void {
    this.guard(() => this.run('UPDATE oplog SET ended_at = ?, result = ?, detail = ? WHERE id = ?', now(), result, detail ?? null, id));
  }

  /** The CT's latest operations, newest first. */
  recentOps(ctid: number, limit = 20): OpRow[] {
    return this.guard(() => this.all<OpRow>(`SELECT ${OP_COLS} FROM oplog WHERE ctid = ? ORDER BY id DESC LIMIT ?`, ctid, limit));
  }

  /** The CT's latest state transitions, newest first (kept after the CT is deleted). */
  transitions(ctid: number, limit = 20): TransitionRow[] {
    return this.guard(() => this.all<TransitionRow>(`SELECT ${TR_COLS} FROM transitions WHERE ctid = ? ORDER BY id DESC LIMIT ?`, ctid, limit));
  }

  close(): void {
    this.stmts.clear();
    if (this.db.open) this.db.close();
  }

  // --- internals ---

  /** Maps a user-causable constraint failure to a VzError; anything else via toVzError. */
  private conflict(e: unknown, ctid: number, name: string | null | undefined): unknown {
    const code = sqliteCode(e);
    if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return new VzError('EXISTS', `CT ${ctid} already exists`, { ctid, cause: e });
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' && /containers\.name/.test((e as Error).message) && name != null) {
      const owner = this.get<{ ctid: number }>('SELECT ctid FROM containers WHERE name = ?', name);
      return new VzError('INVALID', `name ${name} is already used by CT ${owner?.ctid ?? '?'}`, { ctid, cause: e });
    }
    return toVzError(e, this.file, ctid);
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw toVzError(e, this.file);
    }
  }

  private stmt(sql: string): Database.Statement<unknown[], unknown> {
    let s = this.stmts.get(sql);
    if (!s) this.stmts.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  private get<R>(sql: string, ...args: unknown[]): R | undefined {
    return this.stmt(sql).get(...args) as R | undefined;
  }

  private all<R>(sql: string, ...args: unknown[]): R[] {
    return this.stmt(sql).all(...args) as R[];
  }

  private run(sql: string, ...args: unknown[]): Database.RunResult {
    return this.stmt(sql).run(...args);
  }
}
