/** v2 memory controller: RAM and swap are separate limits ("max" = unlimited). */
import { join } from 'node:path';
import type { CgroupStats, ResourceLimits } from '../types.js';
import { exists, readKeyed, readNumber, writeValue } from '../cgfs.js';
import { checkCount, formatBytes } from '../units.js';

export function applyMemory(dir: string, limits: ResourceLimits, ctid?: number): void {
  const { memoryMax, memorySwapMax } = limits;
  if (memoryMax !== undefined) {
    if (memoryMax !== null) checkCount('memory limit', memoryMax);
    writeValue(join(dir, 'memory.max'), memoryMax ?? 'max', `memory limit ${formatBytes(memoryMax ?? Infinity)}`, ctid);
  }
  // No memory.swap.max without swap accounting (CONFIG_MEMCG_SWAP / swapaccount=0): nothing to limit.
  const swapFile = join(dir, 'memory.swap.max');
  if (memorySwapMax !== undefined && exists(swapFile)) {
    if (memorySwapMax !== null) checkCount('swap limit', memorySwapMax);
    writeValue(swapFile, memorySwapMax ?? 'max', `swap limit ${formatBytes(memorySwapMax ?? Infinity)}`, ctid);
  }
}

export function memoryStats(dir: string): Pick<CgroupStats, 'memoryCurrent' | 'memoryCache' | 'swapCurrent' | 'memoryFailcnt' | 'oomKills'> {
  const events = readKeyed(join(dir, 'memory.events'));
  return {
    memoryCurrent: readNumber(join(dir, 'memory.current')) ?? 0,
    memoryCache: readKeyed(join(dir, 'memory.stat')).get('file'),
    swapCurrent: readNumber(join(dir, 'memory.swap.current')),
    memoryFailcnt: events.get('max'),
    oomKills: events.get('oom_kill'),
  };
}
