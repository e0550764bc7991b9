import type { Verb } from './verb.js';
import { renderTable } from './table.js';

/** vzquota's grace column: time left above the soft limit, "none" once it has run out. */
function formatGrace(s: number): string {
  if (s <= 0) return 'none';
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d ? `${d}d${h}h` : h ? `${h}h${m}m` : m ? `${m}m${s % 60}s` : `${s}s`;
}

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
          { header: 'grace', get: (r) => (r.grace === null ? '' : formatGrace(r.grace)), right: true },
        ],
      ),
    );
    return 0;
  },
};

export const compact: Verb = {
  command: 'compact <ctid>',
  describe: "Give an image's unused blocks back to the host file system",
  builder: (y) => y.positional('ctid', { type: 'string', describe: 'CTID or name' }),
  async run(args, svc, out) {
    const ctid = svc.resolve(String(args.ctid));
    const r = await svc.compact(ctid);
    out.result({ ctid, bytes_before: r.bytesBefore, bytes_after: r.bytesAfter, bytes_freed: r.bytesFreed }, () =>
      `Compacted: ${Math.round(r.bytesFreed / 1024)} KiB given back (${Math.round(r.bytesBefore / 1024)} -> ${Math.round(r.bytesAfter / 1024)} KiB on disk)`,
    );
    return 0;
  },
};
