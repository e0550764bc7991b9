/** v1 blkio throttling: one "MAJ:MIN VALUE" line per file and device; 0 removes the rule. */
import { join } from 'node:path';
import type { IoLimit, ResourceLimits } from '../types.js';
import { writeValue } from '../cgfs.js';
import { checkCount } from '../units.js';

const FILES: [keyof IoLimit, string][] = [
  ['rbps', 'blkio.throttle.read_bps_device'],
  ['wbps', 'blkio.throttle.write_bps_device'],
  ['riops', 'blkio.throttle.read_iops_device'],
  ['wiops', 'blkio.throttle.write_iops_device'],
];

export function applyBlkio(dir: string, limits: ResourceLimits, ctid?: number): void {
  for (const io of limits.io ?? []) {
    for (const [key, file] of FILES) {
      const v = io[key];
      if (v === undefined) continue;
      if (v !== null) checkCount(`io ${key} limit`, v);
      const line = `${io.major}:${io.minor} ${v ?? 0}`;
      writeValue(join(dir, file), line, `io ${key} limit ${v ?? 'unlimited'} on ${io.major}:${io.minor}`, ctid);
    }
  }
}
