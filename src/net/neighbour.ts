/**
 * Which host devices answer ARP/NDP for a routed address (vzctl's NEIGHBOUR_DEVS): "detect" (the
 * default) picks the devices with a directly connected route that contains the address, so a
 * container address from the host's LAN subnet is reachable from that LAN; "none" adds no proxy
 * entries; a list names the devices. Read from /proc/net/route and ipv6_route, without an exec.
 */
import fs from 'node:fs';
import type { IpAddr } from './addr.js';
import { linkExists } from './iproute.js';

export type NeighbourDevs = 'detect' | 'none' | string[];

interface Connected {
  dev: string;
  family: 4 | 6;
  net: bigint;
  plen: number;
}

function toBig(addr: IpAddr): bigint {
  if (addr.family === 4) return addr.addr.split('.').reduce((n, b) => (n << 8n) | BigInt(Number(b)), 0n);
  const [h, t] = addr.addr.includes('::') ? addr.addr.split('::') : [addr.addr, undefined];
  const hs = h ? h.split(':') : [];
  const ts = t ? t.split(':') : [];
  const g = t === undefined ? hs : [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  return g.reduce((n, x) => (n << 16n) | BigInt(parseInt(x, 16)), 0n);
}

function readConnected(): Connected[] {
  const out: Connected[] = [];
  try {
    for (const line of fs.readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8) continue;
      const flags = parseInt(f[3]!, 16);
      const mask = Buffer.from(f[7]!, 'hex').reverse(); // little-endian hosts
      // via a gateway (RTF_GATEWAY), unreachable/blackhole (RTF_REJECT, dev "*"), or default
      if (flags & 0x2 || flags & 0x200 || f[0] === '*' || mask.readUInt32BE(0) === 0) continue;
      const plen = mask.reduce((n, b) => n + ((b >>> 0).toString(2).match(/1/g)?.length ?? 0), 0);
      if (plen >= 32) continue;
      out.push({ dev: f[0]!, family: 4, net: BigInt(Buffer.from(f[1]!, 'hex').reverse().readUInt32BE(0)), plen });
    }
  } catch {
    // no IPv4
  }
  try {
    for (const line of fs.readFileSync('/proc/net/ipv6_route', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const plen = parseInt(f[1]!, 16);
      const flags = parseInt(f[8]!, 16);
      if (plen === 0 || plen >= 128 || flags & 0x2 || flags & 0x200 || flags & 0x80000000 || f[9] === 'lo' || !/^0+$/.test(f[4]!)) continue;
      out.push({ dev: f[9]!, family: 6, net: BigInt('0x' + f[0]), plen });
    }
  } catch {
    // no IPv6
  }
  return out;
}

/** A resolver for the plan: address -> the devices that get a proxy entry for it. */
export function neighbourResolver(mode: NeighbourDevs): (a: IpAddr) => string[] {
  if (mode === 'none') return () => [];
  if (Array.isArray(mode)) {
    return (a) => mode.filter((dev) => linkExists(dev) && (a.family === 4 || fs.existsSync(`/proc/sys/net/ipv6/conf/${dev}`)));
  }
  let routes: Connected[] | undefined;
  return (a) => {
    routes ??= readConnected();
    const x = toBig(a);
    const bits = a.family === 4 ? 32 : 128;
    const devs = routes
      .filter((r) => r.family === a.family && x >> BigInt(bits - r.plen) === r.net >> BigInt(bits - r.plen))
      .map((r) => r.dev);
    return [...new Set(devs)].sort();
  };
}
