/**
 * v1 memory controller. RAM is memory.limit_in_bytes; swap exists only as the combined
 * memory.memsw.limit_in_bytes (RAM + swap), which the kernel insists is never below the RAM limit.
 */
import { join } from 'node:path';
import type { CgroupStats, ResourceLimits } from '../types.js';
import { exists, readKeyed, readNumber, writeValue } from '../cgfs.js';
import { checkCount, formatBytes } from '../units.js';
import { VzError } from '../../base/errors.js';

/** New cgroup dir: hierarchical accounting. Always on (and read-only) on kernels >= 6.x, so errors are ignored. */
export function initMemory(dir: string): void {
  try {
    writeValue(join(dir, 'memory.use_hierarchy'), 1, 'memory.use_hierarchy');
  } catch (e) {
    if (!(e instanceof VzError)) throw e; // EINVAL (parent has it / children exist), EPERM, missing file: all fine
  }
}

/** v1 spells "unlimited" as -1 on write. */
const v1 = (n: number): number => (n === Infinity ? -1 : n);

export function applyMemory(dir: string, limits: ResourceLimits, ctid?: number): void {
  const { memoryMax, memorySwapMax } = limits;
  if (memoryMax === undefined && memorySwapMax === undefined) return;
  if (typeof memoryMax === 'number') checkCount('memory limit', memoryMax);
  if (typeof memorySwapMax === 'number') checkCount('swap limit', memorySwapMax);

  const memFile = join(dir, 'memory.limit_in_bytes');
  const memswFile = join(dir, 'memory.memsw.limit_in_bytes');
  const curMem = readNumber(memFile) ?? Infinity;
  const newMem = memoryMax === undefined ? curMem : (memoryMax ?? Infinity);
  const writeMem = (): void => {
    if (memoryMax !== undefined) writeValue(memFile, v1(newMem), `memory limit ${formatBytes(newMem)}`, ctid);
  };

  // Without swap accounting (no memsw files) swap cannot be limited apart from RAM: RAM only.
  if (!exists(memswFile)) return writeMem();

  const curMemsw = readNumber(memswFile) ?? Infinity;
  const curSwap = curMem === Infinity || curMemsw === Infinity ? Infinity : curMemsw - curMem;
  const newSwap = memorySwapMax === undefined ? curSwap : (memorySwapMax ?? Infinity);
  // With RAM unlimited the kernel refuses any finite memsw: swap is only limitable on top of a RAM limit.
  const newMemsw = newMem === Infinity || newSwap === Infinity ? Infinity : newMem + newSwap;
  const writeMemsw = (): void => {
    if (newMemsw !== curMemsw || memorySwapMax !== undefined) {
      writeValue(memswFile, v1(newMemsw), `memory+swap limit ${formatBytes(newMemsw)}`, ctid);
    }
  };
  // Keep memsw >= mem at every instant: raising RAM -> memsw first; lowering -> RAM first.
  if (newMem > curMem) {
    writeMemsw();
    writeMem();
  } else {
    writeMem();
    writeMemsw();
  }
}

export function memoryStats(dir: string): Pick<CgroupStats, 'memoryCurrent' | 'memoryCache' | 'swapCurrent' | 'memoryFailcnt' | 'oomKills'> {
  const usage = readNumber(join(dir, 'memory.usage_in_bytes')) ?? 0;
  const stat = readKeyed(join(dir, 'memory.stat'));
  const memsw = readNumber(join(dir, 'memory.memsw.usage_in_bytes'));
  return {
    memoryCurrent: usage,
    memoryCache: stat.get('total_cache') ?? stat.get('cache'), // total_* include sub-cgroups
    swapCurrent: memsw === undefined ? undefined : Math.max(0, memsw - usage),
    // With vSwap the memory+swap limit is usually the one hit: report whichever counted more.
    memoryFailcnt: Math.max(readNumber(join(dir, 'memory.failcnt')) ?? 0, readNumber(join(dir, 'memory.memsw.failcnt')) ?? 0),
    oomKills: readKeyed(join(dir, 'memory.oom_control')).get('oom_kill'),
  };
}
