/**
 * Numeric container IDs. Container names may never be all digits, so any digit string on
 * the command line is a CTID; names are resolved elsewhere.
 */
import { VzError } from '../base/errors.js';

export const CTID_MIN = 1;
export const CTID_MAX = 2147483647; // INT_MAX, as in vzctl (envid_t is a signed int)

/** True when the argument is meant as a CTID rather than a name (a name can't be all digits or start with a sign). */
export function looksLikeCtid(s: string): boolean {
  return /^[+-]?\d+$/.test(s);
}

export function parseCtid(raw: string | number): number {
  // Only strings and numbers: String() of an arbitrary value can itself throw.
  const s = typeof raw === 'string' || typeof raw === 'number' ? String(raw) : '';
  if (!/^-?\d+$/.test(s)) throw new VzError('SYNTAX', `invalid CTID ${JSON.stringify(s)}: expected a number`);
  const n = Number(s);
  if (n < CTID_MIN || n > CTID_MAX) {
    throw new VzError('INVALID', `CTID ${Number.isSafeInteger(n) ? n : s} is out of range (${CTID_MIN}..${CTID_MAX})`);
  }
  return n;
}
