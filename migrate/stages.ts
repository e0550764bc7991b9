/**
 * Migration stages as data: `{ name, run, undo }`. They run in order, each timed; when one
 * fails, the undo of every stage that completed runs in reverse order (the failed stage's own
 * undo too: it may have done part of its work), and the error names the failed stage.
 */
import { MigrateError, exitFor } from './errors.js';
import { crashPoint } from '../src/base/inject.js';

export interface Stage {
  name: string;
  run(): Promise<void> | void;
  undo?(): Promise<void> | void;
}

export interface StageTiming {
  name: string;
  ms: number;
}

export interface StageRun {
  timings: StageTiming[];
}

export async function runStages(stages: Stage[], log: (msg: string) => void, onStage?: (name: string) => void): Promise<StageRun> {
  const timings: StageTiming[] = [];
  const done: Stage[] = [];
  for (const s of stages) {
    const t0 = performance.now();
    onStage?.(s.name);
    try {
      done.push(s);
      await s.run();
    } catch (e) {
      timings.push({ name: s.name, ms: performance.now() - t0 });
      for (const d of done.reverse()) {
        if (!d.undo) continue;
        try {
          await d.undo();
        } catch (u) {
          log(`undo of stage "${d.name}" failed: ${(u as Error).message}`);
        }
      }
      const msg = (e as Error).message;
      throw new MigrateError(s.name, exitFor(s.name, e), `stage "${s.name}" failed: ${msg}`, e);
    }
    timings.push({ name: s.name, ms: performance.now() - t0 });
    crashPoint(`migrate: ${s.name}`);
  }
  return { timings };
}
