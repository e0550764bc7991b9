import type { Verb } from './verb.js';
import { formatBlocker } from '../criu/precheck.js';

/** vzctl suspend / chkpnt: checkpoint to disk and stop. */
export const suspend: Verb = {
  command: 'suspend <ctid>',
  aliases: ['chkpnt'],
  describe: 'Checkpoint a running container to disk with CRIU and stop it (state suspended)',
  builder: (y) =>
    y
      .positional('ctid', { type: 'string' })
      .option('dumpfile', { type: 'string', describe: 'dump directory (default ROOT/dump/CTID)', requiresArg: true })
      .option('check', { type: 'boolean', describe: 'only say whether it can be checkpointed now, and what stops it (exit 16 if not)' }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    if (args.check) {
      const r = await svc.checkSuspend(ctid);
      out.result({ ctid, checkpointable: r.checkpointable, by: r.by, blockers: r.blockers.map((b) => ({ ...b, line: formatBlocker(b) })) }, () =>
        r.checkpointable ? `CT ${ctid} can be checkpointed` : [`CT ${ctid} cannot be checkpointed now:`, ...r.blockers.map(formatBlocker)].join('\n'),
      );
      return r.checkpointable ? 0 : 16; // VZ_CHKPNT_ERROR, as a failed suspend
    }
    const dir = await svc.suspend(ctid, args.dumpfile as string | undefined);
    out.result({ ctid, suspended: true, dumpfile: dir });
    return 0;
  },
};

/** vzctl resume / restore: bring a suspended container back. */
export const resume: Verb = {
  command: 'resume <ctid>',
  aliases: ['restore'],
  describe: 'Restore a suspended container from its dump (same processes, memory, addresses)',
  builder: (y) =>
    y
      .positional('ctid', { type: 'string' })
      .option('dumpfile', { type: 'string', describe: 'dump directory (default: where suspend put it)', requiresArg: true })
      .option('keep-dump', { type: 'boolean', describe: 'keep the dump after a successful restore' }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    const res = await svc.resume(ctid, { dumpDir: args.dumpfile as string | undefined, keepDump: Boolean(args['keep-dump']) });
    out.result({ ctid, running: true, init_pid: res.initPid, monitor_pid: res.monitorPid, restore_ms: res.spawnMs });
    return 0;
  },
};
