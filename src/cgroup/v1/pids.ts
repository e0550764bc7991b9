/** pids controller: same files in v1 and v2 (v2/pids.ts re-exports this). */
import { join } from 'node:path';
import type { CgroupStats, ResourceLimits } from '../types.js';
import { readKeyed, readNumber, writeValue } from '../cgfs.js';
import { checkCount } from '../units.js';

export function applyPids(dir: string, limits: ResourceLimits, ctid?: number): void {
  const max = limits.pidsMax;
  if (max === undefined) return;
  if (max !== null) checkCount('pids limit', max);
  writeValue(join(dir, 'pids.max'), max ?? 'max', `pids limit ${max ?? 'unlimited'}`, ctid);
}

export function pidsStats(dir: string): Pick<CgroupStats, 'pidsCurrent' | 'pidsFailcnt'> | undefined {
  const current = readNumber(join(dir, 'pids.current'));
  if (current === undefined) return undefined;
  return { pidsCurrent: current, pidsFailcnt: readKeyed(join(dir, 'pids.events')).get('max') };
}
