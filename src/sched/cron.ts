/** Cron expressions (node-cron's syntax: 5 fields, or 6 with seconds first). */
import cron from 'node-cron';
import { VzError } from '../core/errors.js';

export function checkSchedule(expr: string): string {
  const s = expr.trim();
  if (!cron.validate(s)) throw new VzError('INVALID', `invalid schedule "${expr}": expected cron syntax such as "0 2 * * *" (seconds optional first)`);
  return s;
}

/**
 * The latest time the schedule fired, or should have, in (after, now]; undefined when none.
 * Walks back minute by minute (at most `maxDays`): within a matching minute the latest allowed
 * second not after `now` is the answer.
 */
export function lastScheduled(expr: string, now: Date, after: Date, maxDays = 400): Date | undefined {
  const fields = cron.parse(expr);
  const seconds = [...fields.second].sort((a, b) => b - a);
  const task = cron.createTask(expr, () => {});
  try {
    const floor = Math.max(after.getTime(), now.getTime() - maxDays * 86_400_000);
    const minute = new Date(now);
    minute.setSeconds(0, 0);
    for (let m = minute.getTime(); m + 59_999 > floor; m -= 60_000) {
      const probe = new Date(m + seconds[seconds.length - 1]! * 1000);
      if (!task.match(probe)) continue;
      for (const s of seconds) {
        const t = m + s * 1000;
        if (t <= now.getTime() && t > after.getTime()) return new Date(t);
      }
    }
    return undefined;
  } finally {
    void task.destroy();
  }
}
