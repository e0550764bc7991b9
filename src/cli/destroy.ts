import type { Verb } from './verb.js';

export const destroy: Verb = {
  command: 'destroy <ctid>',
  aliases: ['delete'],
  describe: "Remove a stopped container and all of its files",
  builder: (y) => y.positional('ctid', { type: 'string' }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    await svc.destroy(ctid);
    out.result({ ctid, exist: false });
    return 0;
  },
};
