/** v2 memory controller: RAM and swap are separate limits ("max" = unlimited). */
import { join } from 'node:path';
import type { CgroupStats, ResourceLimits } from '../types.js';
import { VzError } from '../../base/errors.js';
import { exists, readKeyed, readNumber, readText, writeValue } from '../cgfs.js';
import { checkCount, formatBytes } from '../units.js';

/**
 * Before memory.max goes below what the cgroup uses: v1 refuses such a limit itself (EBUSY) and
 * keeps the old one; v2 takes it and OOM-kills until the usage fits, which would kill a
 * customer's VPS on a panel's resize. So memory.high goes to the new limit first (the kernel
 * reclaims on that write, and throttles rather than kills while it stands), then the usage is
 * compared: still above, memory.high goes back and the limit is refused (21), as on v1.
 * Returns memory.high as it was, for after memory.max is written; undefined when untouched.
 */
function comeDownFirst(dir: string, max: number, what: string, ctid?: number): string | undefined {
  const current = readNumber(join(dir, 'memory.current'));
  if (current === undefined || current <= max || !exists(join(dir, 'memory.high'))) return undefined;
  const high = readText(join(dir, 'memory.high'))?.trim() || 'max';
  writeValue(join(dir, 'memory.high'), max, `${what} (memory.high while the usage comes down)`, ctid);
  const after = readNumber(join(dir, 'memory.current')) ?? current;
  if (after > max) {
    writeValue(join(dir, 'memory.high'), high, 'memory.high back', ctid);
    throw new VzError('INVALID', `${what} refused: the container uses ${formatBytes(after)}, which could not be reclaimed below it (the old limit stays)`, { ctid });
  }
  return high;
}

export function applyMemory(dir: string, limits: ResourceLimits, ctid?: number): void {
  const { memoryMax, memorySwapMax } = limits;
  if (memoryMax !== undefined) {
    const what = `memory limit ${formatBytes(memoryMax ?? Infinity)}`;
    if (memoryMax !== null) checkCount('memory limit', memoryMax);
    const high = memoryMax !== null ? comeDownFirst(dir, memoryMax, what, ctid) : undefined;
    try {
      writeValue(join(dir, 'memory.max'), memoryMax ?? 'max', what, ctid);
    } finally {
      if (high !== undefined) writeValue(join(dir, 'memory.high'), high, 'memory.high back', ctid);
    }
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
