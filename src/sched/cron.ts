/** Cron expressions (node-cron's syntax: 5 fields, or 6 with seconds first). */
import cron from 'node-cron';
import { VzError } from '../base/errors.js';

export function checkSchedule(expr: string): string {
  const s = expr.trim();
  if (!cron.validate(s)) throw new VzError('INVALID', `invalid schedule "${expr}": expected cron syntax such as "0 2 * * *" (seconds optional first)`);
  return s;
}

/**
 * The latest time the schedule fired, or should have, in (after, now]; undefined when none.
 * Walks back from `now` (at most `maxDays`), skipping whole months, days and hours that cannot
 * match. Fields are node-cron's parse; like node-cron, day of month AND day of week must match.
 * (node-cron's own task.match() formats each date through Intl: far too slow for this walk.)
 */
export function lastScheduled(expr: string, now: Date, after: Date, maxDays = 400): Date | undefined {
  const f = cron.parse(expr);
  const special = [...f.dayOfMonth, ...f.dayOfWeek].some((v) => typeof v !== 'number');
  const task = special ? cron.createTask(expr, () => {}) : undefined;
  const set = (a: Array<number | string>) => new Set(a.filter((v): v is number => typeof v === 'number'));
  const [months, doms, dows, hours, minutes] = [set(f.month), set(f.dayOfMonth), set(f.dayOfWeek), set(f.hour), set(f.minute)];
  const seconds = [...f.second].sort((a, b) => b - a);
  const floor = Math.max(after.getTime(), now.getTime() - maxDays * 86_400_000);
  try {
    const t = new Date(now);
    t.setSeconds(0, 0);
    while (t.getTime() + 59_999 > floor) {
      if (!months.has(t.getMonth() + 1)) {
        t.setDate(0); // last day of the previous month
        t.setHours(23, 59, 0, 0);
        continue;
      }
      const dayOk = task ? true : doms.has(t.getDate()) && dows.has(t.getDay());
      if (!dayOk) {
        t.setDate(t.getDate() - 1);
        t.setHours(23, 59, 0, 0);
        continue;
      }
      if (!hours.has(t.getHours())) {
        t.setHours(t.getHours() - 1, 59, 0, 0);
        continue;
      }
      if (minutes.has(t.getMinutes()) && (!task || task.match(new Date(t.getTime() + seconds[seconds.length - 1]! * 1000)))) {
        for (const s of seconds) {
          const at = t.getTime() + s * 1000;
          if (at <= now.getTime() && at > after.getTime()) return new Date(at);
        }
      }
      t.setMinutes(t.getMinutes() - 1);
    }
    return undefined;
  } finally {
    void task?.destroy();
  }
}
