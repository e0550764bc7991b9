/**
 * From network configurations to iproute2 batch commands: what to run on the host, what to run
 * inside the container's network namespace, and what undoes the host side. Pure functions, so
 * start, a live change and the cleanup all derive from one description.
 *
 * Routed (venet style): a veth pair, "venet0" inside. The host end has no IPv4 address: it
 * carries a /32 or /128 route per address and the link-local fe80::1. Inside, each address is
 * a host address, the IPv4 default route goes via 169.254.0.1 "onlink" with a permanent
 * neighbour entry for the host end's MAC (so nothing depends on ARP for the gateway), the IPv6
 * one via fe80::1. Bridged: a veth pair whose host end joins a bridge; addresses and gateways
 * inside as configured.
 */
import { parseIp, withPrefix, type IpAddr } from './addr.js';
import { hostIfname } from './ifname.js';
import { stableMac } from './mac.js';
import { ROUTED_IFNAME, type NetConfig, type NetIf } from './config.js';
import { parseStoredNetif } from './params.js';
import { VzError } from '../base/errors.js';

export const ROUTED_GW4 = '169.254.0.1';
export const ROUTED_GW6 = 'fe80::1';
/** Bridged gateways come after the routed default route (metric 0) when a container has both. */
const BRIDGED_METRIC = 10;

/** One veth pair as the plan sees it; the routed one is described like a bridged one without bridge. */
export interface Iface extends NetIf {
  routed: boolean;
}

export function ifaces(c: NetConfig, ids: { node: string; ctid: number }): Iface[] {
  const out: Iface[] = [];
  if (c.routed.length) {
    out.push({
      routed: true,
      ifname: ROUTED_IFNAME,
      mac: stableMac(ids.node, ids.ctid, ROUTED_IFNAME, 'ct'),
      host_ifname: hostIfname(ids.node, ids.ctid, 'routed'),
      host_mac: stableMac(ids.node, ids.ctid, ROUTED_IFNAME, 'host'),
      ip: c.routed,
    });
  }
  // Checked here, where names and addresses become ip commands, whatever stored them.
  for (const n of c.netifs) out.push({ ...checkNetifForUse(n, ids.ctid), routed: false });
  return out;
}

function checkNetifForUse(n: NetIf, ctid: number): NetIf {
  try {
    return parseStoredNetif(n);
  } catch (e) {
    throw new VzError('INVALID', `CT ${ctid}: stored interface config refused: ${(e as Error).message}`, { ctid, hint: 'remove it with vzctl set --netif_del IFNAME --save and add it again', cause: e });
  }
}

export interface Commands {
  host: string[];
  ct: string[];
  /** Bridges that must exist before `host` runs. */
  bridges: string[];
  /** Host interfaces that get their per-interface sysctls after `host` ran. */
  newHostIfs: Array<{ name: string; routed: boolean }>;
}

function ctAddr(i: Iface, a: IpAddr): string {
  // Routed addresses are host addresses inside too: everything goes through the host end.
  const p = i.routed ? (a.family === 4 ? 32 : 128) : a.prefix;
  return `${a.addr}/${p} dev ${i.ifname}${a.family === 6 ? ' nodad' : ''}`;
}

function hostRoute(i: Iface, a: IpAddr): string {
  return `${a.addr}/${a.family === 4 ? 32 : 128} dev ${i.host_ifname}`;
}

function defaults(i: Iface, metricIdx: number): string[] {
  const fam = new Set(i.ip.map((a) => parseIp(a).family));
  const out: string[] = [];
  if (i.routed) {
    if (fam.has(4)) {
      out.push(`neigh replace ${ROUTED_GW4} lladdr ${i.host_mac} dev ${i.ifname} nud permanent`);
      out.push(`route replace default via ${ROUTED_GW4} dev ${i.ifname} onlink`);
    }
    if (fam.has(6)) out.push(`route replace default via ${ROUTED_GW6} dev ${i.ifname}`);
  } else {
    const m = BRIDGED_METRIC + metricIdx;
    if (i.gateway) out.push(`route replace default via ${i.gateway} dev ${i.ifname} metric ${m}`);
    if (i.gateway6) out.push(`route replace default via ${i.gateway6} dev ${i.ifname} metric ${m}`);
  }
  return out;
}

function ifaceUp(i: Iface, idx: number, pid: number | string, neigh: (a: IpAddr) => string[], out: Commands): void {
  out.host.push(`link add ${i.host_ifname} address ${i.host_mac} type veth peer name ${i.ifname} address ${i.mac} netns ${pid}`);
  // No autoconfigured link-local (and no DAD) on the host end; the routed one gets fe80::1.
  out.host.push(`link set dev ${i.host_ifname} addrgenmode none`);
  if (i.bridge) {
    out.bridges.push(i.bridge);
    out.host.push(`link set dev ${i.host_ifname} master ${i.bridge}`);
  }
  out.host.push(`link set dev ${i.host_ifname} up`);
  if (i.routed) out.host.push(`addr add ${ROUTED_GW6}/64 dev ${i.host_ifname} nodad`);
  out.newHostIfs.push({ name: i.host_ifname, routed: i.routed });
  out.ct.push(`link set dev ${i.ifname} up`);
  for (const a of i.ip.map((x) => parseIp(x))) addrUp(i, a, neigh, out);
  out.ct.push(...defaults(i, idx));
}

function addrUp(i: Iface, a: IpAddr, neigh: (a: IpAddr) => string[], out: Commands): void {
  out.ct.push(`addr add ${ctAddr(i, a)}`);
  if (i.routed) {
    out.host.push(`route replace ${hostRoute(i, a)}`);
    for (const dev of neigh(a)) out.host.push(`neigh replace proxy ${a.addr} dev ${dev}`);
  }
}

function addrDown(i: Iface, a: IpAddr, neigh: (a: IpAddr) => string[], out: Commands): void {
  out.ct.push(`addr del ${ctAddr(i, a)}`.replace(/ nodad$/, ''));
  if (i.routed) {
    out.host.push(`route del ${hostRoute(i, a)}`);
    for (const dev of neigh(a)) out.host.push(`neigh del proxy ${a.addr} dev ${dev}`);
  }
}

/**
 * The commands that take a running container from `before` to `after` (start: from nothing).
 * `neigh` names the host devices that answer ARP/NDP for a routed address (proxy entries).
 */
export function diff(before: NetConfig, after: NetConfig, ids: { node: string; ctid: number }, pid: number | string, neigh: (a: IpAddr) => string[]): Commands {
  const out: Commands = { host: [], ct: [], bridges: [], newHostIfs: [] };
  const old = new Map(ifaces(before, ids).map((i) => [i.ifname, i]));
  const now = ifaces(after, ids);
  for (const [name, i] of old) {
    if (now.some((n) => n.ifname === name && sameLink(n, i))) continue;
    // The container's end goes with the pair; routes on the host end with the host end.
    out.host.push(`link del dev ${i.host_ifname}`);
    if (i.routed) for (const a of i.ip.map((x) => parseIp(x))) for (const dev of neigh(a)) out.host.push(`neigh del proxy ${a.addr} dev ${dev}`);
  }
  now.forEach((i, idx) => {
    const o = old.get(i.ifname);
    if (!o || !sameLink(o, i)) return ifaceUp(i, idx, pid, neigh, out);
    const was = new Map(o.ip.map((x) => [withPrefix(parseIp(x)), parseIp(x)]));
    const is = new Map(i.ip.map((x) => [withPrefix(parseIp(x)), parseIp(x)]));
    const dOld = defaults(o, idx);
    const dNew = defaults(i, idx);
    // Default routes first: the kernel drops a device's IPv4 routes with its last IPv4 address.
    for (const r of dOld) {
      if (dNew.includes(r) || !r.startsWith('route')) continue;
      out.ct.push(r.replace(/^route replace/, 'route del'));
    }
    for (const [k, a] of was) if (!is.has(k)) addrDown(o, a, neigh, out);
    for (const [k, a] of is) if (!was.has(k)) addrUp(i, a, neigh, out);
    for (const r of dNew) if (!dOld.includes(r)) out.ct.push(r);
  });
  return out;
}

function sameLink(a: Iface, b: Iface): boolean {
  return a.host_ifname === b.host_ifname && a.mac === b.mac && a.host_mac === b.host_mac && a.bridge === b.bridge;
}

/**
 * What undoes the host side of `c` whatever state it is in (run with `ip -force -batch`):
 * the host ends (a veth pair dies with its namespace, but the kernel frees it lazily) and the
 * proxy entries on the host's own devices, which outlive the container.
 */
export function netdown(c: NetConfig, ids: { node: string; ctid: number }, neigh: (a: IpAddr) => string[]): string[] {
  const out: string[] = [];
  for (const i of ifaces(c, ids)) {
    out.push(`link del dev ${i.host_ifname}`);
    if (i.routed) for (const a of i.ip.map((x) => parseIp(x))) for (const dev of neigh(a)) out.push(`neigh del proxy ${a.addr} dev ${dev}`);
  }
  // The ifb device of --rate lives in the host's namespace: it does not go with the container.
  if (c.rate != null) out.push(`link del dev ${hostIfname(ids.node, ids.ctid, 'ifb')}`);
  return out;
}
