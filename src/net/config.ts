/**
 * A container's network configuration as one value, and how the network parameters of a
 * create or set change it. Pure: names and MACs are generated here, the host is not touched.
 *
 * Stored parameters: ip_address (routed addresses), netif (bridged interfaces, each with its
 * addresses and gateways), nameserver, searchdomain. The CLI's ipdel, netif_del, ifname, gw and
 * gw6 are changes to these and are never stored themselves.
 */
import { VzError } from '../base/errors.js';
import { parseIp, type IpAddr } from './addr.js';
import { hostIfname } from './ifname.js';
import { stableMac } from './mac.js';
import type { NetifSpec } from './params.js';

export interface NetIf {
  ifname: string; // inside the container
  mac: string;
  host_ifname: string;
  host_mac: string;
  bridge?: string; // none: the host side is left unattached for the admin's own setup
  ip: string[]; // "ADDR/PREFIX" or a host address
  gateway?: string;
  gateway6?: string;
}

export interface NetConfig {
  routed: string[]; // the venet-style addresses: host routes, container default route via the host
  netifs: NetIf[];
  nameserver?: string[] | 'inherit';
  searchdomain?: string[];
  /** Bandwidth limit in bits/s on each interface, each direction (null/undefined: none). */
  rate?: number | null;
}

export interface NetDelta {
  ip_address?: string[];
  ipdel?: string[];
  netif?: NetifSpec[];
  netif_del?: string[];
  ifname?: string;
  gateway?: string | null;
  gateway6?: string | null;
  nameserver?: string[] | 'inherit';
  searchdomain?: string[];
  rate?: number | null;
}

export const ROUTED_IFNAME = 'venet0';

export function emptyNet(): NetConfig {
  return { routed: [], netifs: [] };
}

/** The stored network parameters (the parameter table's stored net keys; netif in its full form). */
export interface NetParams {
  ip_address?: string[];
  netif?: NetIf[];
  nameserver?: string[] | 'inherit';
  searchdomain?: string[];
  rate?: number | null;
}

export function netFromParams(p: NetParams): NetConfig {
  return {
    routed: p.ip_address ?? [],
    netifs: p.netif ?? [],
    nameserver: p.nameserver,
    searchdomain: p.searchdomain,
    ...(p.rate != null ? { rate: p.rate } : {}),
  };
}

/** The stored form; undefined deletes a key. */
export function netToParams(c: NetConfig): NetParams {
  return {
    ip_address: c.routed.length ? c.routed : undefined,
    netif: c.netifs.length ? c.netifs : undefined,
    nameserver: c.nameserver,
    searchdomain: c.searchdomain,
    rate: c.rate ?? undefined,
  };
}

/** Every address of the container with the interface that carries it (for the bookkeeping). */
export function allAddresses(c: NetConfig): Array<{ ip: string; kind: string }> {
  return [
    ...c.routed.map((a) => ({ ip: parseIp(a).addr, kind: ROUTED_IFNAME })),
    ...c.netifs.flatMap((n) => n.ip.map((a) => ({ ip: parseIp(a).addr, kind: n.ifname }))),
  ];
}

function where(c: NetConfig, addr: string): string | undefined {
  return allAddresses(c).find((a) => a.ip === addr)?.kind;
}

/**
 * Applies a change in vzctl's order: interfaces removed, interfaces added, addresses removed,
 * addresses added, gateways. --ifname directs --ipadd/--ipdel/--gw/--gw6 to a bridged interface.
 */
export function applyDelta(before: NetConfig, d: NetDelta, ids: { node: string; ctid: number }): NetConfig {
  const c: NetConfig = structuredClone(before);
  if (d.netif_del) {
    if (d.netif_del[0] === 'all') c.netifs = [];
    for (const name of d.netif_del) {
      if (name === 'all') continue;
      const i = c.netifs.findIndex((n) => n.ifname === name);
      if (i < 0) throw new VzError('INVALID', `netif_del: the container has no interface ${name}`, { ctid: ids.ctid });
      c.netifs.splice(i, 1);
    }
  }
  for (const spec of d.netif ?? []) {
    if (c.netifs.some((n) => n.ifname === spec.ifname)) {
      throw new VzError('INVALID', `netif_add: the container already has an interface ${spec.ifname}`, { ctid: ids.ctid });
    }
    const used = new Set(c.netifs.map((n) => n.host_ifname));
    let k = 0;
    while (used.has(hostIfname(ids.node, ids.ctid, k))) k++;
    const host = spec.host_ifname ?? hostIfname(ids.node, ids.ctid, k);
    if (used.has(host) || host === hostIfname(ids.node, ids.ctid, 'routed')) {
      throw new VzError('INVALID', `netif_add: host interface name ${host} is already used by this container`, { ctid: ids.ctid });
    }
    c.netifs.push({
      ifname: spec.ifname,
      mac: spec.mac ?? stableMac(ids.node, ids.ctid, spec.ifname, 'ct'),
      host_ifname: host,
      host_mac: spec.host_mac ?? stableMac(ids.node, ids.ctid, spec.ifname, 'host'),
      ...(spec.bridge ? { bridge: spec.bridge } : {}),
      ip: [],
    });
  }
  const target = d.ifname === undefined ? undefined : c.netifs.find((n) => n.ifname === d.ifname);
  if (d.ifname !== undefined && !target) {
    throw new VzError('INVALID', `ifname: the container has no interface ${d.ifname}`, { ctid: ids.ctid, hint: `add it with --netif_add ${d.ifname},,,,BRIDGE` });
  }
  if ((d.gateway !== undefined || d.gateway6 !== undefined) && !target) {
    throw new VzError('INVALID', '--gw and --gw6 need --ifname (the routed interface always goes through the host)', { ctid: ids.ctid });
  }
  const list = target ? target.ip : c.routed;
  if (d.ipdel) {
    if (d.ipdel[0] === 'all') list.length = 0;
    for (const addr of d.ipdel) {
      if (addr === 'all') continue;
      const i = list.findIndex((a) => parseIp(a).addr === addr);
      if (i < 0) {
        const other = where(c, addr);
        throw new VzError('INVALID', `ipdel: ${addr} is not an address of ${target?.ifname ?? ROUTED_IFNAME}${other ? ` (it is on ${other})` : ''}`, { ctid: ids.ctid });
      }
      list.splice(i, 1);
    }
  }
  for (const a of d.ip_address ?? []) {
    const ip = parseIp(a);
    const other = where(c, ip.addr);
    if (other === (target?.ifname ?? ROUTED_IFNAME)) {
      const i = list.findIndex((x) => parseIp(x).addr === ip.addr);
      list[i] = a; // the same address again: its prefix may change
      continue;
    }
    if (other) throw new VzError('INVALID', `ipadd: ${ip.addr} is already on ${other} of this container`, { ctid: ids.ctid });
    list.push(a);
  }
  if (target) {
    if (d.gateway !== undefined) setGw(target, 'gateway', d.gateway);
    if (d.gateway6 !== undefined) setGw(target, 'gateway6', d.gateway6);
  }
  if (d.nameserver !== undefined) c.nameserver = d.nameserver;
  if (d.searchdomain !== undefined) c.searchdomain = d.searchdomain;
  if (d.rate !== undefined) {
    if (d.rate === null) delete c.rate;
    else c.rate = d.rate;
  }
  return c;
}

function setGw(n: NetIf, key: 'gateway' | 'gateway6', v: string | null): void {
  if (v === null) delete n[key];
  else n[key] = v;
}

export function ips(list: string[]): IpAddr[] {
  return list.map((a) => parseIp(a));
}
