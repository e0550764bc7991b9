/** The jobs and job_runs tables (vzd's scheduled backups and migrations). */
import type Database from 'better-sqlite3';
import { VzError } from '../base/errors.js';
import { sqliteCode } from './sqlerr.js';

export type JobKind = 'backup' | 'migrate';
export type RunResult = 'running' | 'ok' | 'error' | 'skipped';

export interface JobRow {
  id: number;
  name: string;
  kind: JobKind;
  schedule: string;
  /** Container list, or 'all'. */
  ctids: number[] | 'all';
  options: Record<string, unknown>;
  enabled: boolean;
  createdAt: string | null;
  /** The scheduled time of the last run vzd started. */
  lastFire: string | null;
}

export interface NewJob {
  name: string;
  kind: JobKind;
  schedule: string;
  ctids: number[] | 'all';
  options: Record<string, unknown>;
}

export interface JobRunRow {
  id: number;
  jobId: number;
  ctid: number | null;
  trigger: string | null;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  result: RunResult;
  size: number | null;
  archive: string | null;
  error: string | null;
  detail: string | null;
  pid: number | null;
}

interface RawJob {
  id: number;
  name: string;
  kind: JobKind;
  schedule: string;
  ctids: string;
  options: string;
  enabled: number;
  created_at: string | null;
  last_fire: string | null;
}

const RUN_COLS = `id, job_id AS jobId, ctid, trigger, started_at AS startedAt, ended_at AS endedAt, duration_ms AS durationMs,
  result, size, archive, error, detail, pid`;

function toJob(r: RawJob): JobRow {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    schedule: r.schedule,
    ctids: r.ctids === 'all' ? 'all' : (JSON.parse(r.ctids) as number[]),
    options: JSON.parse(r.options || '{}') as Record<string, unknown>,
    enabled: r.enabled !== 0,
    createdAt: r.created_at,
    lastFire: r.last_fire,
  };
}

export class JobStore {
  constructor(
    private readonly db: Database.Database,
    private readonly guard: <T>(fn: () => T) => T,
    private readonly tx: <T>(fn: () => T) => T,
  ) {}

  add(j: NewJob): JobRow {
    return this.guard(() => {
      try {
        const r = this.db
          .prepare('INSERT INTO jobs (name, kind, schedule, ctids, options, enabled, created_at) VALUES (?, ?, ?, ?, ?, 1, ?)')
          .run(j.name, j.kind, j.schedule, j.ctids === 'all' ? 'all' : JSON.stringify(j.ctids), JSON.stringify(j.options), new Date().toISOString());
        return this.get(Number(r.lastInsertRowid))!;
      } catch (e) {
        if (sqliteCode(e) === 'SQLITE_CONSTRAINT_UNIQUE') throw new VzError('EXISTS', `a job named ${j.name} already exists`);
        throw e;
      }
    });
  }

  get(id: number): JobRow | undefined {
    return this.guard(() => {
      const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as RawJob | undefined;
      return r && toJob(r);
    });
  }

  byName(name: string): JobRow | undefined {
    return this.guard(() => {
      const r = this.db.prepare('SELECT * FROM jobs WHERE name = ?').get(name) as RawJob | undefined;
      return r && toJob(r);
    });
  }

  list(): JobRow[] {
    return this.guard(() => (this.db.prepare('SELECT * FROM jobs ORDER BY id').all() as RawJob[]).map(toJob));
  }

  /** Removes the job and its history. */
  remove(id: number): boolean {
    return this.tx(() => {
      this.db.prepare('DELETE FROM job_runs WHERE job_id = ?').run(id);
      return this.db.prepare('DELETE FROM jobs WHERE id = ?').run(id).changes > 0;
    });
  }

  setLastFire(id: number, at: Date): void {
    this.guard(() => this.db.prepare('UPDATE jobs SET last_fire = ? WHERE id = ?').run(at.toISOString(), id));
  }

  beginRun(jobId: number, ctid: number | null, trigger: string): number {
    return this.guard(() => {
      const r = this.db
        .prepare("INSERT INTO job_runs (job_id, ctid, trigger, started_at, result, pid) VALUES (?, ?, ?, ?, 'running', ?)")
        .run(jobId, ctid, trigger, new Date().toISOString(), process.pid);
      return Number(r.lastInsertRowid);
    });
  }

  endRun(id: number, end: { result: Exclude<RunResult, 'running'>; size?: number; archive?: string; error?: string; detail?: string }): void {
    this.guard(() => {
      const row = this.db.prepare('SELECT started_at AS s FROM job_runs WHERE id = ?').get(id) as { s: string } | undefined;
      const now = new Date();
      const ms = row ? now.getTime() - Date.parse(row.s) : null;
      this.db
        .prepare('UPDATE job_runs SET ended_at = ?, duration_ms = ?, result = ?, size = ?, archive = ?, error = ?, detail = ? WHERE id = ?')
        .run(now.toISOString(), ms, end.result, end.size ?? null, end.archive ?? null, end.error ?? null, end.detail ?? null, id);
    });
  }

  /** A run recorded without ever starting (overlap, lock): start and end at once. */
  skipped(jobId: number, ctid: number | null, trigger: string, why: string): void {
    const id = this.beginRun(jobId, ctid, trigger);
    this.endRun(id, { result: 'skipped', error: why });
  }

  runs(opts: { jobId?: number; limit?: number } = {}): JobRunRow[] {
    return this.guard(() =>
      opts.jobId === undefined
        ? (this.db.prepare(`SELECT ${RUN_COLS} FROM job_runs ORDER BY id DESC LIMIT ?`).all(opts.limit ?? 50) as JobRunRow[])
        : (this.db.prepare(`SELECT ${RUN_COLS} FROM job_runs WHERE job_id = ? ORDER BY id DESC LIMIT ?`).all(opts.jobId, opts.limit ?? 50) as JobRunRow[]),
    );
  }

  /** Runs still marked running (a vzd that died leaves some; the caller checks their pids). */
  running(): JobRunRow[] {
    return this.guard(() => this.db.prepare(`SELECT ${RUN_COLS} FROM job_runs WHERE result = 'running'`).all() as JobRunRow[]);
  }
}
