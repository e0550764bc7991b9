import type { Verb } from './verb.js';

export const start: Verb = {
  command: 'start <ctid>',
  describe: 'Start a container (its own init as PID 1); a suspended one is resumed from its dump',
  builder: (y) =>
    y
      .positional('ctid', { type: 'string', describe: 'CTID or name' })
      .option('skip-resume', { type: 'boolean', describe: 'a suspended container boots from its files instead; its saved state is discarded' }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    const res = await svc.start(ctid, { skipResume: Boolean(args['skip-resume']) });
    out.result({ ctid, running: true, init_pid: res.initPid, monitor_pid: res.monitorPid, spawn_ms: res.spawnMs });
    return 0;
  },
};
