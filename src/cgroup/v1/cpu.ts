/** v1 cpu (CFS shares and bandwidth) and cpuacct (usage) controllers. */
import { join } from 'node:path';
import type { ResourceLimits } from '../types.js';
import { readNumber, writeValue } from '../cgfs.js';
import { weightToShares } from '../units.js';
import { VzError } from '../../base/errors.js';

export function applyCpu(dir: string, limits: ResourceLimits, ctid?: number): void {
  if (limits.cpuWeight !== undefined) {
    const shares = weightToShares(limits.cpuWeight);
    writeValue(join(dir, 'cpu.shares'), shares, `cpu weight ${limits.cpuWeight} (cpu.shares ${shares})`, ctid);
  }
  const max = limits.cpuMax;
  if (max === undefined) return;
  const quotaFile = join(dir, 'cpu.cfs_quota_us');
  if (max === null) return writeValue(quotaFile, -1, 'cpu limit unlimited', ctid);
  const what = `cpu limit ${max.quotaUs}/${max.periodUs} us`;
  const period = (): void => writeValue(join(dir, 'cpu.cfs_period_us'), max.periodUs, what, ctid);
  // The kernel checks quota/period as a pair against parent and children: a new period with the
  // old quota can be refused where the final pair is fine, so on refusal set quota first (as runc).
  try {
    period();
  } catch (e) {
    if (!(e instanceof VzError) || e.code !== 'INVALID') throw e;
    writeValue(quotaFile, max.quotaUs, what, ctid);
    period();
    return;
  }
  writeValue(quotaFile, max.quotaUs, what, ctid);
}

/** cpuacct.usage is in ns; the API reports us. */
export function cpuUsageUs(cpuacctDir: string): number {
  const ns = readNumber(join(cpuacctDir, 'cpuacct.usage'));
  return ns === undefined ? 0 : Math.floor(ns / 1000);
}
