import type { Verb } from './verb.js';
import { statusLine } from '../core/ops/status.js';

export const status: Verb = {
  command: 'status <ctid>',
  describe: 'Show whether a container exists, is mounted and runs',
  builder: (y) => y.positional('ctid', { type: 'string' }),
  run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    const s = svc.status(ctid);
    // Programs get the limits and usage too (vzlist -j's fields); people get vzctl's line.
    out.result(out.json ? { ...s, ...svc.details(ctid) } : s, () => statusLine(s));
    return 0;
  },
};
