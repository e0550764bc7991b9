/** Unit conversions between the v2 semantics of ResourceLimits and what each kernel file takes. */
import { VzError } from '../core/errors.js';

/**
 * v2 cpu.weight (1..10000) -> v1 cpu.shares (2..262144): the inverse of runc's linear
 * ConvertCPUSharesToCgroupV2Value, weight = 1 + (shares - 2) * 9999 / 262142 (floored).
 * Taking the ceiling makes the pair round-trip exactly. Note weight 100 (the v2 default) maps to
 * 2598 shares, not the v1 default 1024: what matters is that containers compare fairly.
 */
export function weightToShares(weight: number): number {
  checkWeight(weight);
  return 2 + Math.ceil(((weight - 1) * 262142) / 9999);
}

/** v1 cpu.shares -> v2 cpu.weight, runc's formula (for reading back / migrating configs). */
export function sharesToWeight(shares: number): number {
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

export function checkWeight(weight: number): void {
  if (!Number.isInteger(weight) || weight < 1 || weight > 10000) {
    throw new VzError('INVALID', `cpu weight ${weight} is out of range 1..10000`);
  }
}

/** Byte counts must be whole and exact in a double (2^53 B = 8 PiB is plenty). */
export function checkCount(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new VzError('INVALID', `${what} ${n} is not a non-negative integer`);
}

/** 1048576 -> "1M", 1536 -> "1536" (only exact multiples get a suffix), Infinity -> "unlimited". */
export function formatBytes(n: number): string {
  if (n === Infinity) return 'unlimited';
  for (const [s, f] of [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]] as const) {
    if (n >= f && n % f === 0) return `${n / f}${s}`;
  }
  return String(n);
}
