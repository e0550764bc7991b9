/**
 * vzctl job add|list|remove|run|history: scheduled backups and migrations, run by vzd.
 *   job add NAME --type backup --schedule CRON (--ctid 101,102 | --all) [--mode M] [--compress C]
 *           [--dumpdir D] [--keep-last N] [--keep-hourly N] ... [--repeat-missed]
 *   job add NAME --type migrate --schedule CRON --ctid LIST --destination HOST [--online]
 */
import type { Verb } from './verb.js';
import { renderTable } from './table.js';
import { VzError } from '../base/errors.js';
import { jobFromArgs, parseJobName, KEEP_FLAGS } from '../sched/spec.js';
import { runJob } from '../sched/run.js';
import type { ContainerService } from '../core/service.js';
import type { JobRow } from '../state/jobs.js';

function findJob(svc: ContainerService, name: string): JobRow {
  const store = svc.ctx.db().jobs();
  const j = /^\d+$/.test(name) ? store.get(Number(name)) : store.byName(name);
  if (!j) throw new VzError('NOT_FOUND', `no job named ${name}`, { hint: 'vzctl job list shows the jobs' });
  return j;
}

function describeOptions(j: JobRow): string {
  const o = j.options;
  if (j.kind === 'migrate') return `to ${String(o.destination)}${o.online ? ' online' : ''}`;
  const keep = Object.entries(o)
    .filter(([k, v]) => k.startsWith('keep') && typeof v === 'number')
    .map(([k, v]) => `${k.slice(4).toLowerCase()}=${String(v)}`);
  return [`${String(o.mode)}`, String(o.compress), o.dumpdir ? String(o.dumpdir) : '', keep.length ? `keep ${keep.join(',')}` : ''].filter(Boolean).join(' ');
}

export const job: Verb = {
  command: 'job <action> [name]',
  describe: 'scheduled jobs run by vzd: add NAME ..., list, remove NAME, run NAME, history [NAME]',
  builder: (y) => {
    let b = y
      .positional('action', { type: 'string', choices: ['add', 'list', 'remove', 'run', 'history'] })
      .positional('name', { type: 'string', describe: 'job name' })
      .option('type', { type: 'string', choices: ['backup', 'migrate'], default: 'backup', describe: 'add: what the job does' })
      .option('schedule', { type: 'string', describe: 'add: cron syntax, seconds optional first ("0 2 * * *", "*/10 * * * * *")' })
      .option('ctid', { type: 'string', describe: 'add: containers, comma separated (CTIDs or names)' })
      .option('all', { type: 'boolean', describe: 'add: every container at the time of each run' })
      .option('mode', { type: 'string', describe: 'backup: stop, suspend (default) or snapshot' })
      .option('compress', { type: 'string', describe: 'backup: zstd (default), gzip, none' })
      .option('dumpdir', { type: 'string', describe: 'backup: where archives go' })
      .option('destination', { type: 'string', describe: 'migrate: the destination host' })
      .option('online', { type: 'boolean', describe: 'migrate: live migration' })
      .option('repeat-missed', { type: 'boolean', describe: 'vzd runs a schedule missed while it was down once at start' })
      .option('limit', { type: 'number', default: 20, describe: 'history: how many runs' });
    for (const f of KEEP_FLAGS) b = b.option(f, { type: 'number', describe: `backup retention: ${f.replace('keep-', '')}` });
    return b;
  },
  async run(args, svc, out) {
    const store = svc.ctx.db().jobs();
    const action = String(args.action);
    const name = args.name as string | undefined;
    if (action === 'list') {
      const rows = store.list();
      out.result(rows, () =>
        renderTable(rows, [
          { header: 'NAME', get: (j) => j.name },
          { header: 'TYPE', get: (j) => j.kind },
          { header: 'SCHEDULE', get: (j) => j.schedule },
          { header: 'CTIDS', get: (j) => (j.ctids === 'all' ? 'all' : j.ctids.join(',')) },
          { header: 'OPTIONS', get: (j) => describeOptions(j) + (j.options.repeatMissed ? ' repeat-missed' : '') },
        ]),
      );
      return 0;
    }
    if (action === 'history') {
      const runs = store.runs({ jobId: name ? findJob(svc, name).id : undefined, limit: Number(args.limit) });
      const names = new Map(store.list().map((j) => [j.id, j.name]));
      out.result(runs, () =>
        renderTable(runs, [
          { header: 'JOB', get: (r) => names.get(r.jobId) ?? String(r.jobId) },
          { header: 'CTID', get: (r) => (r.ctid === null ? '-' : String(r.ctid)) },
          { header: 'TRIGGER', get: (r) => r.trigger ?? '-' },
          { header: 'STATUS', get: (r) => r.result },
          { header: 'START', get: (r) => r.startedAt.replace(/\.\d+Z$/, 'Z') },
          { header: 'DURATION', get: (r) => (r.durationMs === null ? '-' : `${(r.durationMs / 1000).toFixed(1)}s`) },
          { header: 'SIZE', get: (r) => (r.size === null ? '-' : `${(r.size / 1048576).toFixed(1)}M`) },
          { header: 'ERROR', get: (r) => r.error ?? '' },
        ]),
      );
      return 0;
    }
    if (!name) throw new VzError('SYNTAX', `job ${action} needs a job NAME`);
    if (action === 'add') {
      const list = args.ctid === undefined ? [] : String(args.ctid).split(',').filter(Boolean);
      if (args.all && list.length) throw new VzError('SYNTAX', 'give --ctid or --all, not both');
      const ctids = args.all ? ('all' as const) : list.map((c) => svc.resolveExisting(c.trim()));
      const j = store.add(jobFromArgs(parseJobName(name), String(args.type), args, ctids));
      out.result(j, () => `Job ${j.name} added (${j.kind}, "${j.schedule}"); vzd runs it`);
      return 0;
    }
    const j = findJob(svc, name);
    if (action === 'remove') {
      store.remove(j.id);
      out.result({ removed: j.name }, () => `Job ${j.name} removed`);
      return 0;
    }
    const r = await runJob(svc.ctx, j, 'manual');
    out.result(r, () =>
      r.skipped
        ? `Job ${j.name} skipped: ${r.skipped}`
        : r.runs.map((x) => `CT ${x.ctid}: ${x.result}${x.archive ? ` ${x.archive}` : ''}${x.pruned ? ` (pruned ${x.pruned})` : ''}${x.error ? `: ${x.error}` : ''}`).join('\n') || 'no containers',
    );
    if (r.skipped) return 9;
    const failed = r.runs.find((x) => x.result === 'error');
    return failed ? 8 : 0;
  },
};
