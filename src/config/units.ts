/**
 * Sizes as vzctl writes them: bytes, or a number with a binary K/M/G/T suffix.
 * Signals live in values.ts (parseSignal) next to the other scalar coercions.
 */
import { VzError } from '../base/errors.js';
import { show } from './values.js';

export { parseSignal } from './values.js';

const MULT: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

// "64", "64M", "64m", "64MB", "64MiB", "1.5G", "512B"; suffixes are binary whatever their case.
// No blanks anywhere: "64 M" or " 64M" is a quoting mistake in a script (vzctl refuses it too),
// and what a value means must not depend on how a shell split it.
const SIZE_RE = /^(\d+(?:\.\d+)?)(?:([KMGT])(?:I?B)?|B)?$/;

/** Returns bytes, or null for 'unlimited' when opts.allowUnlimited. */
export function parseSize(raw: string | number, opts: { allowUnlimited?: boolean } = {}): number | null {
  const fail = (why: string) => new VzError('INVALID', `invalid size ${typeof raw === 'number' ? JSON.stringify(String(raw)) : show(raw)}: ${why}`);
  if (typeof raw !== 'number' && typeof raw !== 'string') throw fail('expected a number or a size like 512M');
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw) || raw < 0) throw fail('must be a non-negative number of bytes');
    if (!Number.isInteger(raw)) throw fail('a byte count must be a whole number (or use a suffix: 1.5G)');
    if (raw > Number.MAX_SAFE_INTEGER) throw fail('too large');
    return raw;
  }
  if (typeof raw !== 'string') throw fail('expected a number of bytes or a size like 512M');
  if (raw.trim() === '') throw fail('empty');
  if (/\s/.test(raw)) throw fail('contains a blank (write it as one word, e.g. 64M)');
  const s = raw.toUpperCase();
  if (s === 'UNLIMITED') {
    if (opts.allowUnlimited) return null;
    throw fail('"unlimited" is not allowed here');
  }
  if (s.startsWith('-')) throw fail('must not be negative');
  const m = SIZE_RE.exec(s);
  if (!m) throw fail('expected a number with an optional K, M, G or T suffix (e.g. 512M, 1.5G)');
  const suffix = m[2] ?? '';
  if (suffix === '' && m[1].includes('.')) throw fail('a byte count must be a whole number (or use a suffix: 1.5G)');
  // Like vzctl, a fractional result is truncated to whole bytes.
  const bytes = Math.floor(Number(m[1]) * MULT[suffix]);
  if (!Number.isSafeInteger(bytes)) throw fail(`too large (max ${Number.MAX_SAFE_INTEGER} bytes)`);
  return bytes;
}

/** Formats bytes back into the shortest exact vzctl form (for config output and messages). */
export function formatSize(bytes: number | null): string {
  if (bytes === null) return 'unlimited';
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    if (bytes !== 0 && bytes % MULT[unit] === 0) return `${bytes / MULT[unit]}${unit}`;
  }
  return String(bytes);
}
