import type { Verb } from './verb.js';

export const start: Verb = {
  command: 'start <ctid>',
  describe: 'Start a container (its own init as PID 1); a suspended one is resumed from its dump',
  builder: (y) =>
    y
      .positional('ctid', { type: 'string', describe: 'CTID or name' })
      .option('skip-resume', { type: 'boolean', describe: 'a suspended container boots from its files instead; its saved state is discarded' })
      .option('wait', { type: 'boolean', describe: 'return once init has finished booting (systemd: is-system-running answers)' })
      .option('wait-timeout', { type: 'number', describe: 'seconds --wait waits at most (exit 7 after that)', default: 120 }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    const res = await svc.start(ctid, { skipResume: Boolean(args['skip-resume']) });
    const state = args.wait ? svc.waitBooted(ctid, Number(args['wait-timeout']) * 1000) : undefined;
    out.result({ ctid, running: true, init_pid: res.initPid, monitor_pid: res.monitorPid, spawn_ms: res.spawnMs, ...(state ? { state } : {}) }, state ? () => `Container booted: ${state}` : undefined);
    return 0;
  },
};
