/** Unit conversions between the v2 semantics of ResourceLimits and what each kernel file takes. */
import { VzError } from '../base/errors.js';

/**
 * v2 cpu.weight (1..10000) <-> v1 cpu.shares, systemd's linear mapping: weight 100 (the v2
 * default) is 1024 shares (the v1 default), so containers compare fairly with host tasks on
 * both versions. vzctl's cpuunits 1000 -> weight 100 -> 1024 shares.
 */
export function weightToShares(weight: number): number {
  checkWeight(weight);
  return Math.min(262144, Math.max(2, Math.round((weight * 1024) / 100)));
}

/** v1 cpu.shares -> v2 cpu.weight (for reading back / migrating configs). */
export function sharesToWeight(shares: number): number {
  return Math.min(10000, Math.max(1, Math.round((shares * 100) / 1024)));
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
