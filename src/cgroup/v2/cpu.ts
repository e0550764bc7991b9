/** v2 cpu controller: cpu.weight (1..10000) and cpu.max ("QUOTA PERIOD", quota "max" = unlimited). */
import { join } from 'node:path';
import type { ResourceLimits } from '../types.js';
import { readKeyed, writeValue } from '../cgfs.js';
import { checkWeight } from '../units.js';

const DEFAULT_PERIOD_US = 100000;

export function applyCpu(dir: string, limits: ResourceLimits, ctid?: number): void {
  if (limits.cpuWeight !== undefined) {
    checkWeight(limits.cpuWeight);
    writeValue(join(dir, 'cpu.weight'), limits.cpuWeight, `cpu weight ${limits.cpuWeight}`, ctid);
  }
  const max = limits.cpuMax;
  if (max === undefined) return;
  // One write sets quota and period together, so no ordering problem as on v1.
  const v = max === null ? `max ${DEFAULT_PERIOD_US}` : `${max.quotaUs} ${max.periodUs}`;
  writeValue(join(dir, 'cpu.max'), v, max === null ? 'cpu limit unlimited' : `cpu limit ${max.quotaUs}/${max.periodUs} us`, ctid);
}

/** cpu.stat usage_usec exists even without the cpu controller enabled (core stat). */
export function cpuUsageUs(dir: string): number {
  return readKeyed(join(dir, 'cpu.stat')).get('usage_usec') ?? 0;
}
