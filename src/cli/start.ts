import type { Verb } from './verb.js';

export const start: Verb = {
  command: 'start <ctid>',
  describe: 'Start a container (its own init as PID 1)',
  builder: (y) => y.positional('ctid', { type: 'string' }).option('wait', { type: 'boolean', hidden: true }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    const res = await svc.start(ctid);
    out.result({ ctid, running: true, init_pid: res.initPid, monitor_pid: res.monitorPid });
    return 0;
  },
};
