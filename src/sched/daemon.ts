/**
 * vzd: the node's scheduler. At start it starts the containers marked onboot (highest bootorder
 * first), catches up once on runs missed while it was down (jobs with repeatMissed), and runs
 * every enabled job on its cron schedule (node-cron). Jobs are re-read from the state database
 * every few seconds, so `vzctl job add/remove` need no restart. On SIGTERM/SIGINT it stops
 * scheduling, lets running jobs finish (up to --job-timeout, then aborts them: their undo lists
 * remove partial files and restart what they stopped) and, with --stop-on-exit, stops the
 * running containers cleanly, lowest bootorder first.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Context } from '../core/context.js';
import { VzError } from '../base/errors.js';
import { lockFile, type Lock } from '../sys/lock.js';
import { pidAlive } from '../sys/proc.js';
import { probeRuntime } from '../core/runtime-state.js';
import { startContainer } from '../core/ops/start.js';
import { stopContainer } from '../core/ops/stop.js';
import { recoverAllPending } from '../core/lock.js';
import type { JobRow } from '../state/jobs.js';
import { lastScheduled } from './cron.js';
import { runJob, type Trigger } from './run.js';
import path from 'node:path';
import { readStored } from '../core/stored.js';

export interface VzdOptions {
  stopOnExit: boolean;
  /** Start onboot containers (default yes). */
  onboot: boolean;
  /** How long SIGTERM waits for running jobs before aborting them. */
  jobTimeoutMs: number;
  reloadMs: number;
  log: (msg: string) => void;
}

interface Scheduled {
  job: JobRow;
  task: ScheduledTask;
}

/** Order of boot: highest bootorder first, then containers without one, by CTID. */
export function bootOrder(cts: Array<{ ctid: number; bootorder?: number }>): number[] {
  return [...cts]
    .sort((a, b) => (b.bootorder ?? -1) - (a.bootorder ?? -1) || a.ctid - b.ctid)
    .map((c) => c.ctid);
}

export class Vzd {
  private readonly tasks = new Map<number, Scheduled>();
  private readonly running = new Map<number, Promise<unknown>>();
  private readonly abort = new AbortController();
  private reloadTimer?: NodeJS.Timeout;
  private stopping = false;
  private nodeLock?: Lock;

  constructor(
    private readonly ctx: Context,
    private readonly o: VzdOptions,
  ) {}

  async start(): Promise<void> {
    const db = this.ctx.db();
    // One vzd per node; the kernel drops the lock when it dies.
    this.nodeLock = lockFile(path.join(this.ctx.cfg.paths.locks, 'vzd.lck'), { waitMs: 0, what: 'vzd (another vzd runs on this node)' });
    for (const r of db.jobs().running()) {
      if (r.pid && r.pid !== process.pid && !pidAlive(r.pid)) {
        db.jobs().endRun(r.id, { result: 'error', error: `the process running it (pid ${r.pid}) died` });
      }
    }
    this.o.log(`vzd ${process.pid} started on node ${this.ctx.cfg.node}`);
    // What a vzdump or vzmigrate killed while vzd was down (or with it) left: containers they had
    // stopped or checkpointed come back before anything else runs.
    for (const ctid of await recoverAllPending(this.ctx, (m) => this.o.log(m))) this.o.log(`CT ${ctid}: an interrupted operation was recovered`);
    if (this.o.onboot) await this.bootContainers();
    this.sync(true);
    this.reloadTimer = setInterval(() => this.sync(false), this.o.reloadMs);
  }

  private async bootContainers(): Promise<void> {
    const db = this.ctx.db();
    const cts = db
      .listContainers()
      .filter((c) => c.state !== 'creating')
      .map((c) => ({ ctid: c.ctid, params: readStored(db, c.ctid).params }))
      .filter((c) => c.params.onboot === true)
      .map((c) => ({ ctid: c.ctid, bootorder: c.params.bootorder }));
    for (const ctid of bootOrder(cts)) {
      if (probeRuntime(this.ctx.paths(ctid)).running) continue;
      try {
        await startContainer(this.ctx, ctid);
        this.o.log(`onboot: CT ${ctid} started`);
      } catch (e) {
        this.o.log(`onboot: CT ${ctid} failed to start: ${(e as Error).message}`);
      }
    }
  }

  /** Brings the scheduled tasks in line with the jobs table. */
  private sync(first: boolean): void {
    if (this.stopping) return;
    let jobs: JobRow[];
    try {
      jobs = this.ctx.db().jobs().list().filter((j) => j.enabled);
    } catch (e) {
      this.o.log(`cannot read jobs: ${(e as Error).message}`);
      return;
    }
    const want = new Map(jobs.map((j) => [j.id, j]));
    for (const [id, s] of this.tasks) {
      const j = want.get(id);
      if (!j || j.schedule !== s.job.schedule) {
        void s.task.destroy();
        this.tasks.delete(id);
        this.o.log(`job ${s.job.name}: unscheduled`);
      } else {
        s.job = j; // options may have changed
      }
    }
    for (const j of jobs) {
      if (this.tasks.has(j.id)) continue;
      const task = cron.createTask(j.schedule, (c) => this.fire(j.id, 'schedule', c.date), { name: j.name });
      void task.start();
      this.tasks.set(j.id, { job: j, task });
      this.o.log(`job ${j.name}: scheduled "${j.schedule}"`);
      if (first && j.options.repeatMissed) this.catchUp(j);
    }
  }

  /** One catch-up run when the schedule fired while vzd was down. */
  private catchUp(j: JobRow): void {
    const since = new Date(j.lastFire ?? j.createdAt ?? Date.now());
    const missed = lastScheduled(j.schedule, new Date(), since);
    if (!missed) return;
    this.o.log(`job ${j.name}: missed the run of ${missed.toISOString()}, running it now`);
    this.fire(j.id, 'missed', missed);
  }

  private fire(id: number, trigger: Trigger, at: Date): void {
    const s = this.tasks.get(id);
    if (!s || this.stopping) return;
    const store = this.ctx.db().jobs();
    store.setLastFire(id, at);
    if (this.running.has(id)) {
      this.o.log(`job ${s.job.name}: still running, this run is skipped`);
      store.skipped(id, null, trigger, 'the previous run of this job is still in progress');
      return;
    }
    this.o.log(`job ${s.job.name}: run (${trigger})`);
    const p = runJob(this.ctx, s.job, trigger, this.abort.signal)
      .then((r) => {
        for (const x of r.runs) this.o.log(`job ${s.job.name}: CT ${x.ctid} ${x.result}${x.archive ? ` ${x.archive}` : ''}${x.error ? `: ${x.error}` : ''}`);
        if (r.skipped) this.o.log(`job ${s.job.name}: skipped: ${r.skipped}`);
      })
      .catch((e) => this.o.log(`job ${s.job.name}: failed: ${(e as Error).message}`))
      .finally(() => this.running.delete(id));
    this.running.set(id, p);
  }

  /** SIGTERM: no new runs; running ones finish or are aborted; containers stopped if asked. */
  async shutdown(signal: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.o.log(`${signal}: shutting down`);
    clearInterval(this.reloadTimer);
    for (const s of this.tasks.values()) void s.task.destroy();
    this.tasks.clear();
    if (this.running.size) {
      this.o.log(`waiting up to ${this.o.jobTimeoutMs / 1000} s for ${this.running.size} running job(s)`);
      const all = Promise.allSettled([...this.running.values()]);
      const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), this.o.jobTimeoutMs).unref())]);
      if (timedOut) {
        this.o.log('aborting running jobs');
        this.abort.abort();
        await all;
      }
    }
    if (this.o.stopOnExit) await this.stopContainers();
    this.o.log('vzd stopped');
    this.nodeLock?.release();
  }

  private async stopContainers(): Promise<void> {
    const db = this.ctx.db();
    const cts = db
      .listContainers()
      .filter((c) => probeRuntime(this.ctx.paths(c.ctid)).running)
      .map((c) => ({ ctid: c.ctid, bootorder: readStored(db, c.ctid).params.bootorder }));
    for (const ctid of bootOrder(cts).reverse()) {
      try {
        await stopContainer(this.ctx, ctid);
        this.o.log(`CT ${ctid} stopped`);
      } catch (e) {
        if (!(e instanceof VzError && e.code === 'NOT_RUNNING')) this.o.log(`CT ${ctid} failed to stop: ${(e as Error).message}`);
      }
    }
  }
}
