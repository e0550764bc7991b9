/**
 * A container address must not take one from the host: the host's own addresses, the network and
 * broadcast addresses of its subnets, its routes' gateways, and (routed addresses) destinations
 * the host now sends elsewhere through a route of its own. What is allowed on purpose: an address
 * inside a subnet the host is directly connected to (proxy ARP/NDP publishes it there: how a LAN
 * address reaches a routed container), one under the default route, and one under a blackhole,
 * unreachable or prohibit route (how a block routed to the host is fenced against loops).
 *
 * The host's routing tables (all of them: local, main and policy tables) come from one
 * `ip -j route show table all` per family; the decision is a pure function of them.
 */
import { VzError } from '../base/errors.js';
import { childProcess } from '../sys/childproc.js';
import { canonicalV6, v6Groups, type IpAddr } from './addr.js';
import { ipCmd } from './iproute.js';

export interface HostRoute {
  family: 4 | 6;
  type: string; // unicast, local, broadcast, anycast, blackhole, unreachable, prohibit, throw, multicast
  net: bigint;
  plen: number; // 0 = default
  dst: string; // as ip prints it
  dev?: string;
  gateways: bigint[];
  protocol?: string;
  table?: string;
}

export function addrBits(a: { family: 4 | 6; addr: string }): bigint {
  if (a.family === 4) return a.addr.split('.').reduce((n, b) => (n << 8n) | BigInt(Number(b)), 0n);
  return v6Groups(a.addr).reduce((n, x) => (n << 16n) | BigInt(x), 0n);
}

function parseAddr(text: string, family: 4 | 6): bigint | undefined {
  if (family === 4) {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(text)) return undefined;
    return addrBits({ family, addr: text });
  }
  if (!/^[0-9a-f:]+$/i.test(text) || !text.includes(':')) return undefined;
  return addrBits({ family, addr: text.toLowerCase() });
}

interface IpJsonRoute {
  type?: string;
  dst?: string;
  dev?: string;
  gateway?: string;
  via?: { family?: string; host?: string };
  nexthops?: Array<{ gateway?: string; dev?: string }>;
  protocol?: string;
  table?: string;
}

/** Routes from `ip -j route` output (exported for the unit tests). */
export function parseRoutes(json: string, family: 4 | 6): HostRoute[] {
  let list: IpJsonRoute[];
  try {
    list = JSON.parse(json) as IpJsonRoute[];
  } catch {
    return [];
  }
  const bits = family === 4 ? 32 : 128;
  const out: HostRoute[] = [];
  for (const r of list) {
    if (typeof r.dst !== 'string') continue;
    let net: bigint | undefined;
    let plen: number;
    if (r.dst === 'default') {
      net = 0n;
      plen = 0;
    } else {
      const [a, p] = r.dst.split('/');
      net = parseAddr(a!, family);
      plen = p === undefined ? bits : Number(p);
    }
    if (net === undefined || !Number.isInteger(plen) || plen < 0 || plen > bits) continue;
    const gws = [r.gateway, r.via?.host, ...(r.nexthops ?? []).map((h) => h.gateway)]
      .filter((g): g is string => typeof g === 'string')
      .map((g) => parseAddr(g, family))
      .filter((g): g is bigint => g !== undefined);
    out.push({ family, type: r.type ?? 'unicast', net, plen, dst: r.dst, dev: r.dev ?? r.nexthops?.[0]?.dev, gateways: gws, protocol: r.protocol, table: r.table });
  }
  return out;
}

export function readHostRoutes(): HostRoute[] {
  const run = (fam: 4 | 6) => {
    const r = childProcess().spawnSync(ipCmd(), [fam === 6 ? '-6' : '-4', '-j', 'route', 'show', 'table', 'all'], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new VzError('SYSTEM', `cannot read the host's routes: ${(r.stderr ?? '').trim() || (r.error?.message ?? `ip exited ${r.status}`)}`);
    return parseRoutes(r.stdout, fam);
  };
  return [...run(4), ...run(6)];
}

function contains(r: HostRoute, x: bigint, bits: number): boolean {
  return r.plen === 0 || x >> BigInt(bits - r.plen) === r.net >> BigInt(bits - r.plen);
}

function show(x: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => Number((x >> s) & 255n)).join('.');
  return canonicalV6(Array.from({ length: 8 }, (_, i) => ((x >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':'));
}

const REJECT = new Set(['blackhole', 'unreachable', 'prohibit', 'throw']);

/**
 * Why `a` cannot be a container's address on this host, or undefined. `routed`: the address gets
 * a host route of its own (venet), so a host route it would override counts too; `own(dev)`: a
 * device that is a host end of this node's containers (their routes are vzkit's own, and the
 * state database already refuses an address twice).
 */
export function hostAddressConflict(a: IpAddr, routes: HostRoute[], routed: boolean, own: (dev: string) => boolean): { code: 'IP_IN_USE' | 'INVALID'; why: string } | undefined {
  const bits = a.family === 4 ? 32 : 128;
  const x = addrBits(a);
  const mine = routes.filter((r) => r.family === a.family);
  for (const r of mine) {
    if (!contains(r, x, bits)) continue;
    if (r.type === 'local') return { code: 'IP_IN_USE', why: r.plen === bits ? `an address of the host (on ${r.dev ?? '?'})` : `answered by the host itself (local route ${r.dst})` };
    if (r.type === 'anycast' && r.plen === bits) return { code: 'INVALID', why: `the subnet anycast address of the host's network on ${r.dev ?? '?'}` };
    if (r.type === 'broadcast' && r.plen === bits) return { code: 'INVALID', why: `a broadcast address of the host's network on ${r.dev ?? '?'}` };
  }
  for (const r of mine) {
    if (r.gateways.includes(x)) return { code: 'IP_IN_USE', why: `the gateway of the host's ${r.plen === 0 ? 'default route' : `route ${r.dst}`}${r.dev ? ` on ${r.dev}` : ''}` };
  }
  // Directly connected subnets (a device route without a gateway made by the kernel for an address).
  const connected = mine.filter((r) => r.type === 'unicast' && r.gateways.length === 0 && r.protocol === 'kernel' && r.plen > 0 && r.dev !== undefined && !own(r.dev));
  for (const r of connected) {
    if (!contains(r, x, bits) || r.plen >= bits - 1) continue;
    const host = x & ((1n << BigInt(bits - r.plen)) - 1n);
    if (host === 0n) return { code: 'INVALID', why: `the network address of the host's subnet ${r.dst} on ${r.dev}` };
    if (a.family === 4 && host === (1n << BigInt(bits - r.plen)) - 1n) return { code: 'INVALID', why: `the broadcast address of the host's subnet ${r.dst} on ${r.dev}` };
  }
  if (!routed) return undefined;
  // The route the host uses for the address now (longest prefix; default and fences aside).
  let best: HostRoute | undefined;
  for (const r of mine) {
    if (r.plen === 0 || r.table === 'local' || r.type === 'multicast' || REJECT.has(r.type) || !contains(r, x, bits)) continue;
    if (!best || r.plen > best.plen) best = r;
  }
  if (!best || (best.dev !== undefined && own(best.dev))) return undefined;
  if (best.gateways.length === 0 && best.protocol === 'kernel') return undefined; // connected: proxy ARP/NDP's case
  const via = best.gateways.length ? ` via ${show(best.gateways[0]!, a.family)}` : '';
  return { code: 'INVALID', why: `inside the host's route ${best.dst}${via}${best.dev ? ` dev ${best.dev}` : ''}: a container route would take that traffic from it` };
}

/** Throws the first conflict of the addresses with the host (one line; exit 78 or 21). */
export function checkHostAddresses(addrs: Array<{ ip: IpAddr; routed: boolean }>, own: (dev: string) => boolean, ctid?: number, routes?: HostRoute[]): void {
  if (addrs.length === 0) return;
  const table = routes ?? readHostRoutes();
  for (const { ip, routed } of addrs) {
    const c = hostAddressConflict(ip, table, routed, own);
    if (c) throw new VzError(c.code, `ipadd ${ip.addr}: ${c.why}`, { ctid, hint: c.code === 'IP_IN_USE' ? 'a container address must be one the host and its network do not use' : undefined });
  }
}
