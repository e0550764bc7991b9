import type { Verb } from './verb.js';

export const stop: Verb = {
  command: 'stop <ctid>',
  describe: "Stop a container: its template's halt signal, SIGKILL after the timeout",
  builder: (y) =>
    y
      .positional('ctid', { type: 'string' })
      .option('fast', { type: 'boolean', describe: 'kill at once (SIGKILL), no clean shutdown' })
      .option('timeout', { type: 'number', describe: 'seconds to wait for a clean halt', requiresArg: true }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    await svc.stop(ctid, { fast: Boolean(args.fast), timeout: args.timeout as number | undefined });
    out.result({ ctid, running: false });
    return 0;
  },
};
