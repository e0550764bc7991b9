import type { Verb } from './verb.js';

export const restart: Verb = {
  command: 'restart <ctid>',
  describe: 'Stop (if running) and start a container',
  builder: (y) => y.positional('ctid', { type: 'string' }).option('fast', { type: 'boolean', describe: 'kill instead of a clean halt' }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    const res = await svc.restart(ctid, { fast: Boolean(args.fast) });
    out.result({ ctid, running: true, init_pid: res.initPid, monitor_pid: res.monitorPid, spawn_ms: res.spawnMs });
    return 0;
  },
};
