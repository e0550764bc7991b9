/**
 * MAC addresses: generated stably from the node, the container and the interface, so a
 * container keeps its MACs across restarts (ARP caches and DHCP leases stay valid) and two
 * nodes never generate the same one. Locally administered, unicast.
 */
import { createHash } from 'node:crypto';
import { VzError } from '../base/errors.js';

export function stableMac(node: string, ctid: number, ifname: string, side: 'ct' | 'host'): string {
  const h = createHash('sha256').update(`vzkit\0${node}\0${ctid}\0${ifname}\0${side}`).digest();
  const b = [...h.subarray(0, 6)];
  b[0] = (b[0]! & 0xfc) | 0x02; // bit 1: locally administered; bit 0 clear: unicast
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(raw: string, what = 'MAC address'): string {
  const s = raw.trim().toLowerCase().replace(/-/g, ':');
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(s)) throw new VzError('INVALID', `invalid ${what} "${raw}": expected XX:XX:XX:XX:XX:XX`);
  if (parseInt(s.slice(0, 2), 16) & 1) throw new VzError('INVALID', `invalid ${what} "${raw}": a multicast address`);
  if (s === '00:00:00:00:00:00') throw new VzError('INVALID', `invalid ${what} "${raw}": all zeros`);
  return s;
}
