import type { Verb } from './verb.js';
import { addParamFlags, paramsFromArgs } from './params-flags.js';

export const set: Verb = {
  command: 'set <ctid>',
  describe: 'Change parameters; applied live to a running container, stored with --save',
  builder: (y) => addParamFlags(y.positional('ctid', { type: 'string' }).option('save', { type: 'boolean', describe: 'store in the container config' }), 'set'),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    const res = await svc.set(ctid, paramsFromArgs(args, 'set'), Boolean(args.save));
    out.result({ ctid, ...res });
    return 0;
  },
};
