import type { Verb } from './verb.js';
import { renderTable } from './table.js';

export const quota: Verb = {
  command: 'quota <ctid>',
  describe: 'Show disk usage and limits of a container (like vzquota stat)',
  builder: (y) => y.positional('ctid', { type: 'string', describe: 'CTID or name' }),
  run(args, svc, out) {
    const q = svc.quota(svc.resolve(String(args.ctid)));
    out.result(q, () =>
      renderTable(
        [
          { resource: '1k-blocks', ...q.blocks },
          { resource: 'inodes', ...q.inodes },
        ],
        [
          { header: 'resource', get: (r) => r.resource, right: true },
          { header: 'usage', get: (r) => r.usage, right: true },
          { header: 'softlimit', get: (r) => r.soft, right: true },
          { header: 'hardlimit', get: (r) => r.hard, right: true },
        ],
      ),
    );
    return 0;
  },
};
