import type { Verb } from './verb.js';

/** vzctl suspend / chkpnt: checkpoint to disk and stop. */
export const suspend: Verb = {
  command: 'suspend <ctid>',
  aliases: ['chkpnt'],
  describe: 'Checkpoint a running container to disk with CRIU and stop it (state suspended)',
  builder: (y) =>
    y
      .positional('ctid', { type: 'string' })
      .option('dumpfile', { type: 'string', describe: 'dump directory (default ROOT/dump/CTID)', requiresArg: true }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
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
