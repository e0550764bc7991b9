/**
 * Interface names: the kernel's rules (IFNAMSIZ, no '/', ':' or blanks), and the names vzkit
 * gives the host side of a container's veth pairs.
 */
import { createHash } from 'node:crypto';
import { VzError } from '../base/errors.js';

export const IFNAMSIZ = 16; // with the terminating NUL

/** dev_valid_name() of the kernel, plus printable ASCII only (names end up in commands and tables). */
export function checkIfname(raw: string, what: string): string {
  const s = raw;
  const fail = (why: string) => new VzError('INVALID', `invalid ${what} "${raw}": ${why}`, { hint: 'an interface name is 1-15 characters of letters, digits, ".", "-" and "_"' });
  if (s.length === 0) throw fail('empty');
  if (s.length >= IFNAMSIZ) throw fail(`longer than ${IFNAMSIZ - 1} characters`);
  if (s === '.' || s === '..') throw fail('not a name');
  if (!/^[A-Za-z0-9._-]+$/.test(s)) throw fail('contains a character that is not allowed in an interface name');
  return s;
}

/**
 * The host end of a container's interface: "<node>-<ctid>" for the routed (venet) pair and
 * "<node>-<ctid>.<n>" for bridged ones ("<node>-<ctid>.i" for its ifb device), so that two nodes never collide. Names that would be too
 * long become "<node>-<hash>" (stable for the same node, CTID and n).
 */
export function hostIfname(node: string, ctid: number, n: number | 'routed' | 'ifb'): string {
  // 'ifb': the container's ifb device, where what it sends is shaped (--rate).
  const plain = n === 'routed' ? `${node}-${ctid}` : n === 'ifb' ? `${node}-${ctid}.i` : `${node}-${ctid}.${n}`;
  if (plain.length < IFNAMSIZ) return plain;
  const room = IFNAMSIZ - 1 - node.length - 1;
  const h = createHash('sha256').update(`${ctid}\0${n}`).digest('hex');
  return `${node}-${BigInt('0x' + h.slice(0, 16)).toString(36).slice(0, room)}`;
}
