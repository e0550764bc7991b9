/** Validators for the names a user gives: host names (RFC 1123) and container names. */
import { VzError } from '../base/errors.js';
import { show } from './values.js';

/** Returns the host name without a trailing dot, or throws BAD_HOSTNAME. */
export function parseHostname(raw: unknown): string {
  const fail = (why: string) => new VzError('BAD_HOSTNAME', `invalid hostname ${show(raw)}: ${why}`);
  if (typeof raw !== 'string') throw fail('expected a string');
  const name = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (name === '') throw fail('empty');
  if (name.length > 253) throw fail('longer than 253 characters');
  for (const label of name.split('.')) {
    if (label === '') throw fail('empty label (two dots in a row?)');
    if (label.length > 63) throw fail(`label "${label.slice(0, 16)}..." is longer than 63 characters`);
    if (!/^[A-Za-z0-9-]+$/.test(label)) throw fail(`label "${label}" may only contain letters, digits and '-'`);
    if (label.startsWith('-') || label.endsWith('-')) throw fail(`label "${label}" must not start or end with '-'`);
  }
  return name;
}

/** A container name: interchangeable with a CTID on the command line, hence never all digits. */
export function parseCtName(raw: unknown): string {
  const fail = (why: string) => new VzError('INVALID', `invalid name ${show(raw)}: ${why}`);
  if (typeof raw !== 'string') throw fail('expected a string');
  if (raw.length < 1 || raw.length > 64) throw fail('must be 1 to 64 characters');
  if (!/^[A-Za-z0-9._-]+$/.test(raw)) throw fail("may only contain letters, digits, '.', '_' and '-'");
  if (!/^[A-Za-z0-9]/.test(raw)) throw fail('must start with a letter or digit');
  if (/^\d+$/.test(raw)) throw fail('must not be all digits (that would read as a CTID)');
  if (raw.includes('..')) throw fail("must not contain '..'");
  return raw;
}
