/**
 * A job's definition from `vzctl job add` options: what it runs (backup or migrate), on which
 * containers, when, and its options as stored in the jobs table.
 */
import { VzError } from '../base/errors.js';
import { checkSchedule } from './cron.js';
import { COMPRESSIONS, type Compression } from '../backup/names.js';
import { MODES, type BackupMode } from '../backup/manifest.js';
import type { Retention } from '../backup/prune.js';
import { parseDumpdir } from '../backup/dumpdir.js';
import type { JobKind, NewJob } from '../state/jobs.js';

export interface BackupJobOptions extends Retention {
  mode: BackupMode;
  compress: Compression;
  dumpdir?: string;
  repeatMissed?: boolean;
}

export interface MigrateJobOptions {
  destination: string;
  online: boolean;
  repeatMissed?: boolean;
}

const KEEPS: Array<[string, keyof Retention]> = [
  ['keep-last', 'keepLast'],
  ['keep-hourly', 'keepHourly'],
  ['keep-daily', 'keepDaily'],
  ['keep-weekly', 'keepWeekly'],
  ['keep-monthly', 'keepMonthly'],
  ['keep-yearly', 'keepYearly'],
];
export const KEEP_FLAGS = KEEPS.map(([f]) => f);

export function parseJobName(raw: unknown): string {
  const s = String(raw ?? '');
  if (!/^[A-Za-z][A-Za-z0-9._-]{0,63}$/.test(s)) throw new VzError('INVALID', `invalid job name "${s}": a letter, then letters, digits, . _ -`);
  return s;
}

/** Builds a job from parsed CLI args (ctids already resolved, or 'all'). */
export function jobFromArgs(name: string, kind: string, args: Record<string, unknown>, ctids: number[] | 'all'): NewJob {
  if (kind !== 'backup' && kind !== 'migrate') throw new VzError('INVALID', `invalid job type "${kind}": backup or migrate`);
  if (args.schedule === undefined) throw new VzError('NOT_ENOUGH_PARAMS', 'a job needs --schedule (cron syntax)');
  const schedule = checkSchedule(String(args.schedule));
  if (ctids !== 'all' && ctids.length === 0) throw new VzError('NOT_ENOUGH_PARAMS', 'a job needs --ctid LIST or --all');
  const repeatMissed = Boolean(args['repeat-missed']);
  if (kind === 'backup') {
    const mode = String(args.mode ?? 'suspend');
    if (!(MODES as readonly string[]).includes(mode)) throw new VzError('INVALID', `invalid mode "${mode}": ${MODES.join(', ')}`);
    const compress = String(args.compress ?? 'zstd');
    if (!(COMPRESSIONS as readonly string[]).includes(compress)) throw new VzError('INVALID', `invalid compression "${compress}": ${COMPRESSIONS.join(', ')}`);
    const opts: BackupJobOptions = { mode: mode as BackupMode, compress: compress as Compression, repeatMissed };
    if (args.dumpdir !== undefined) opts.dumpdir = parseDumpdir(args.dumpdir, { absolute: true });
    for (const [flag, key] of KEEPS) {
      const v = args[flag];
      if (v === undefined) continue;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new VzError('INVALID', `invalid --${flag} "${String(v)}": a whole number of backups`);
      opts[key] = n;
    }
    return { name, kind: kind as JobKind, schedule, ctids, options: { ...opts } };
  }
  if (!args.destination) throw new VzError('NOT_ENOUGH_PARAMS', 'a migrate job needs --destination HOST');
  const opts: MigrateJobOptions = { destination: String(args.destination), online: Boolean(args.online), repeatMissed };
  return { name, kind: 'migrate', schedule, ctids, options: { ...opts } };
}
