/**
 * One run of a job: for each of its containers a backup (vzdump + retention) or a migration
 * (the vzmigrate command), each recorded in job_runs. A job is never run twice at once: a
 * per-job flock is taken without waiting, and a run that finds it held is recorded as skipped.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../core/context.js';
import { VzError } from '../base/errors.js';
import { lockFile, type Lock } from '../sys/lock.js';
import { childProcess } from '../sys/childproc.js';
import { dumpContainer } from '../backup/dump.js';
import { pruneArchives } from '../backup/retention.js';
import { defaultDumpdir } from '../backup/dumpdir.js';
import type { JobRow } from '../state/jobs.js';
import type { BackupJobOptions, MigrateJobOptions } from './spec.js';

export type Trigger = 'schedule' | 'missed' | 'manual';

export interface RunSummary {
  job: string;
  trigger: Trigger;
  skipped?: string;
  runs: Array<{ ctid: number; result: 'ok' | 'error'; archive?: string; size?: number; pruned?: number; error?: string }>;
}

function jobLockPath(ctx: Context, job: JobRow): string {
  return path.join(ctx.cfg.paths.locks, `job-${job.id}.lck`);
}

/** The job's lock, or undefined when a run of it is in progress (here or in another process). */
export function tryJobLock(ctx: Context, job: JobRow): Lock | undefined {
  ctx.db();
  try {
    return lockFile(jobLockPath(ctx, job), { waitMs: 0, what: `job ${job.name}` });
  } catch (e) {
    if (e instanceof VzError && e.code === 'LOCKED') return undefined;
    throw e;
  }
}

export async function runJob(ctx: Context, job: JobRow, trigger: Trigger, signal?: AbortSignal): Promise<RunSummary> {
  const store = ctx.db().jobs();
  const lock = tryJobLock(ctx, job);
  if (!lock) {
    const why = 'the previous run of this job is still in progress';
    store.skipped(job.id, null, trigger, why);
    return { job: job.name, trigger, skipped: why, runs: [] };
  }
  try {
    const ctids = job.ctids === 'all' ? ctx.db().listContainers().filter((c) => c.state !== 'creating').map((c) => c.ctid) : job.ctids;
    const out: RunSummary = { job: job.name, trigger, runs: [] };
    for (const ctid of ctids) {
      if (signal?.aborted) break;
      const id = store.beginRun(job.id, ctid, trigger);
      try {
        if (job.kind === 'backup') {
          const o = job.options as unknown as BackupJobOptions;
          const dumpdir = o.dumpdir ?? defaultDumpdir(ctx);
          const r = await dumpContainer(ctx, { ctid, mode: o.mode, compression: o.compress, dumpdir, signal });
          const pruned = pruneArchives(dumpdir, ctid, o);
          const detail = [r.frozenMs !== undefined ? `frozen ${r.frozenMs.toFixed(0)} ms` : '', pruned.removed.length ? `pruned ${pruned.removed.length}` : '']
            .filter(Boolean)
            .join(', ');
          store.endRun(id, { result: 'ok', size: r.bytes, archive: r.archive, detail: detail || undefined });
          out.runs.push({ ctid, result: 'ok', archive: r.archive, size: r.bytes, pruned: pruned.removed.length });
        } else {
          const detail = await migrate(ctid, job.options as unknown as MigrateJobOptions, signal);
          store.endRun(id, { result: 'ok', detail });
          out.runs.push({ ctid, result: 'ok' });
        }
      } catch (e) {
        const msg = (e as Error).message;
        store.endRun(id, { result: 'error', error: msg });
        out.runs.push({ ctid, result: 'error', error: msg });
      }
    }
    return out;
  } finally {
    lock.release();
  }
}

/** vzmigrate from this build's dist/ (beside the running command), else from PATH. */
export function findVzmigrate(): string | undefined {
  // VZKIT_VZMIGRATE names another one (a wrapper, or a test's stand-in).
  const named = process.env.VZKIT_VZMIGRATE;
  if (named) {
    try {
      fs.accessSync(named, fs.constants.X_OK);
      return named;
    } catch {
      return undefined;
    }
  }
  const beside = path.join(path.dirname(process.argv[1] ?? ''), 'vzmigrate');
  if (process.argv[1] && fs.existsSync(beside)) return beside;
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const p = path.join(dir, 'vzmigrate');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

/**
 * Runs `vzmigrate [--online] DESTINATION CTID` (vzctl's syntax). vzmigrate takes the
 * container's lock itself, so it is not held here.
 */
function migrate(ctid: number, o: MigrateJobOptions, signal?: AbortSignal): Promise<string> {
  const bin = findVzmigrate();
  if (!bin) {
    return Promise.reject(new VzError('UNSUPPORTED', `vzmigrate is not installed (${process.env.VZKIT_VZMIGRATE ?? 'neither beside vzd nor on PATH'}): migration jobs need it`));
  }
  const args = [...(o.online ? ['--online'] : []), o.destination, String(ctid)];
  return new Promise((resolve, reject) => {
    const p = childProcess().spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let text = '';
    p.stdout!.on('data', (d) => (text += String(d)));
    p.stderr!.on('data', (d) => (text += String(d)));
    p.once('error', (e) => reject(new VzError('SYSTEM', `cannot run ${bin}: ${e.message}`)));
    p.once('close', (code) => {
      const last = text.trim().split('\n').filter(Boolean).pop() ?? '';
      if (code === 0) resolve(last);
      else reject(new VzError('SYSTEM', `vzmigrate ${args.join(' ')} exited ${code}${last ? `: ${last}` : ''}`));
    });
  });
}
