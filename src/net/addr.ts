/**
 * IP addresses as vzkit stores and compares them: IPv4 or IPv6, canonical text (so that
 * 2001:db8::1 and 2001:0db8:0:0::1 are one address for the conflict check), with a prefix.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { VzError } from '../base/errors.js';

export interface IpAddr {
  family: 4 | 6;
  /** Canonical text without prefix: dotted quad, or RFC 5952 IPv6. */
  addr: string;
  prefix: number;
}

/** RFC 5952: lower case, no leading zeros, the longest run (>= 2) of zero groups as "::". */
export function canonicalV6(s: string): string {
  let text = s.toLowerCase();
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups first.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    text = text.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const g = groups.map((x) => parseInt(x, 16).toString(16));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return g.join(':');
  return `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`;
}

/** The eight 16-bit groups of a canonical IPv6 address. */
export function v6Groups(canonical: string): number[] {
  const [h, t] = canonical.includes('::') ? canonical.split('::') : [canonical, undefined];
  const hs = h ? h.split(':') : [];
  const ts = t ? t.split(':') : [];
  const g = t === undefined ? hs : [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  return g.map((x) => parseInt(x, 16));
}

function bad(raw: string, why: string, what: string): VzError {
  return new VzError('INVALID', `invalid ${what} "${raw}": ${why}`);
}

/**
 * "198.18.0.5", "198.18.0.5/24", "2001:db8::5/64". Without a prefix the address is a host
 * address (/32, /128), as vzctl's --ipadd. Network, broadcast-only, multicast, loopback,
 * link-local and unspecified addresses are refused: none of them can be a container's address.
 */
export function parseIp(raw: string, what = 'IP address'): IpAddr {
  const s = raw.trim();
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(s);
  if (!m) throw bad(raw, 'expected ADDR or ADDR/PREFIX', what);
  const a = m[1]!;
  let family: 4 | 6;
  let addr: string;
  if (isIPv4(a)) {
    family = 4;
    addr = a.split('.').map(Number).join('.');
  } else if (isIPv6(a) && !a.includes('%')) {
    family = 6;
    addr = canonicalV6(a);
  } else {
    throw bad(raw, 'not an IPv4 or IPv6 address', what);
  }
  const max = family === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (prefix < 1 || prefix > max) throw bad(raw, `prefix must be 1..${max}`, what);
  const why = unusable(family, addr);
  if (why) throw bad(raw, why, what);
  return { family, addr, prefix };
}

function unusable(family: 4 | 6, addr: string): string | undefined {
  if (family === 4) {
    const [a, b] = addr.split('.').map(Number) as [number, number];
    if (a === 0) return 'an unspecified ("this network") address';
    if (a === 127) return 'a loopback address';
    if (a >= 224 && a <= 239) return 'a multicast address';
    if (a >= 240) return 'a reserved or broadcast address';
    if (a === 169 && b === 254) return 'a link-local address (vzkit uses 169.254.0.1 as the routed gateway)';
    return undefined;
  }
  if (addr === '::') return 'the unspecified address';
  if (addr === '::1') return 'the loopback address';
  // IPv4 inside IPv6 (::ffff:a.b.c.d mapped, ::ffff:0:a.b.c.d translated, ::a.b.c.d compatible):
  // never an interface's address on the wire (RFC 4291 2.5.5), and for the kernel's sockets the
  // IPv4 address itself, so "::ffff:198.18.0.2" would be a second name of a container's 198.18.0.2
  // that the conflict check does not see. Refused rather than folded into the IPv4 form: a
  // container that asked for IPv6 must not silently get an IPv4 address.
  const g = v6Groups(addr);
  if (g.slice(0, 5).every((x) => x === 0) && (g[5] === 0xffff || (g[5] === 0 && (g[6] !== 0 || g[7]! > 1)))) {
    return `an IPv4 address written as IPv6 (use ${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255})`;
  }
  if (g.slice(0, 4).every((x) => x === 0) && g[4] === 0xffff && g[5] === 0) {
    return `an IPv4 address written as IPv6 (use ${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255})`;
  }
  if (/^ff/.test(addr)) return 'a multicast address';
  if (/^fe[89ab]/.test(addr)) return 'a link-local address';
  return undefined;
}

/** A gateway: an address without prefix (a link-local IPv6 gateway is allowed here). */
export function parseGateway(raw: string, what = 'gateway'): IpAddr {
  const s = raw.trim();
  if (isIPv4(s)) return { family: 4, addr: s.split('.').map(Number).join('.'), prefix: 32 };
  if (isIPv6(s) && !s.includes('%')) return { family: 6, addr: canonicalV6(s), prefix: 128 };
  throw bad(raw, 'not an IPv4 or IPv6 address', what);
}

export function hostPrefix(a: IpAddr): number {
  return a.family === 4 ? 32 : 128;
}

/** "198.18.0.5" for a host address, "198.18.0.5/24" otherwise: vzctl's way of listing them. */
export function formatIp(a: IpAddr): string {
  return a.prefix === hostPrefix(a) ? a.addr : `${a.addr}/${a.prefix}`;
}

export function withPrefix(a: IpAddr): string {
  return `${a.addr}/${a.prefix}`;
}
