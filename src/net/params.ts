/**
 * The network parameters' value parsers (the parameter table in config/params.ts refers to
 * them): each takes the CLI form (a string, or several when the flag is repeated) and the YAML
 * form (a sequence), and throws VzError INVALID naming the value.
 */
import { VzError } from '../base/errors.js';
import { formatIp, parseGateway, parseIp } from './addr.js';
import { checkIfname } from './ifname.js';
import { parseMac } from './mac.js';
import type { NetIf } from './config.js';

function items(raw: unknown, key: string, split: RegExp | null = /[\s,]+/): string[] {
  const list = Array.isArray(raw) ? raw : [raw];
  const out: string[] = [];
  for (const v of list) {
    if (typeof v !== 'string') throw new VzError('INVALID', `"${key}" must be a string or a list of strings`);
    out.push(...(split ? v.split(split) : [v.trim()]).filter((s) => s !== ''));
  }
  if (out.length === 0) throw new VzError('INVALID', `"${key}" needs a value`);
  return out;
}

/** --ipadd ADDR[/PREFIX] (repeatable, or several separated by commas or blanks). */
export function parseIpAdd(raw: unknown): string[] {
  return items(raw, 'ipadd').map((s) => formatIp(parseIp(s)));
}

/** --ipdel ADDR|all. */
export function parseIpDel(raw: unknown): string[] {
  const list = items(raw, 'ipdel');
  if (list.some((s) => s.toLowerCase() === 'all')) return ['all'];
  // The prefix does not matter for removal: the address names it.
  return list.map((s) => parseIp(s).addr);
}

/** --nameserver ADDR (repeatable) or "inherit" (the host's, from its /etc/resolv.conf). */
export function parseNameserver(raw: unknown): string[] | 'inherit' {
  const list = items(raw, 'nameserver');
  if (list.some((s) => s.toLowerCase() === 'inherit')) {
    if (list.length > 1) throw new VzError('INVALID', 'nameserver "inherit" cannot be combined with addresses');
    return 'inherit';
  }
  return list.map((s) => parseGateway(s, 'nameserver').addr);
}

export function parseSearchdomain(raw: unknown): string[] {
  const list = items(raw, 'searchdomain');
  for (const d of list) {
    if (d.length > 253 || !/^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$/.test(d)) {
      throw new VzError('INVALID', `invalid searchdomain "${d}": expected a domain name`);
    }
  }
  return list;
}

/** One --netif_add spec: IFNAME[,MAC,HOST_IFNAME,HOST_MAC,BRIDGE] (vzctl's order; empty = generated). */
export interface NetifSpec {
  ifname: string;
  mac?: string;
  host_ifname?: string;
  host_mac?: string;
  bridge?: string;
}

export const RESERVED_IFNAMES = ['lo', 'venet0'];

/**
 * Names a host end or a bridge must never have: lo is the host's loopback (a veth or bridge
 * cannot be it, and vzkit's cleanup would act on it), and "all" and "default" are the kernel's
 * names for every interface in /proc/sys/net/ipv4/conf and ipv6/conf (vzkit writes forwarding sysctls there by
 * the interface's name). Refused when parsed, so a stored config never holds one (set --save on a
 * stopped container used to accept them, and the start failed).
 */
export const RESERVED_HOST_IFNAMES = ['lo', 'all', 'default'];

function hostName(raw: string, what: string, spec: string): string {
  const name = checkIfname(raw, what);
  if (RESERVED_HOST_IFNAMES.includes(name)) {
    throw new VzError('INVALID', `invalid netif_add "${spec}": ${what} ${name} is reserved (${name === 'lo' ? "the host's loopback" : 'the kernel\'s name for all interfaces'})`);
  }
  return name;
}

export function parseNetifAdd(raw: unknown): NetifSpec[] {
  // One spec per flag: the spec itself has commas.
  return items(raw, 'netif_add', null).map((spec) => {
    const f = spec.split(',').map((x) => x.trim());
    if (f.length > 5) throw new VzError('INVALID', `invalid netif_add "${spec}": expected IFNAME[,MAC,HOST_IFNAME,HOST_MAC,BRIDGE]`);
    const ifname = checkIfname(f[0] ?? '', 'interface name');
    if (RESERVED_IFNAMES.includes(ifname)) throw new VzError('INVALID', `invalid netif_add "${spec}": ${ifname} is reserved (venet0 is the routed interface)`);
    const out: NetifSpec = { ifname };
    if (f[1]) out.mac = parseMac(f[1], 'MAC address');
    if (f[2]) out.host_ifname = hostName(f[2], 'host interface name', spec);
    if (f[3]) out.host_mac = parseMac(f[3], 'host MAC address');
    if (f[4]) out.bridge = hostName(f[4], 'bridge name', spec);
    return out;
  });
}

export function parseNetifDel(raw: unknown): string[] {
  const list = items(raw, 'netif_del');
  if (list.some((s) => s.toLowerCase() === 'all')) return ['all'];
  return list.map((s) => checkIfname(s, 'interface name'));
}

export function parseIfname(raw: unknown): string {
  if (typeof raw !== 'string') throw new VzError('INVALID', '"ifname" must be a string');
  return checkIfname(raw.trim(), 'interface name');
}

/** --gw / --gw6 of the interface named by --ifname; "none" removes it. */
export function parseGw(family: 4 | 6) {
  return (raw: unknown): string | null => {
    if (typeof raw !== 'string') throw new VzError('INVALID', `"gw${family === 6 ? '6' : ''}" must be a string`);
    if (raw.trim().toLowerCase() === 'none') return null;
    const g = parseGateway(raw, family === 6 ? 'IPv6 gateway' : 'gateway');
    if (g.family !== family) throw new VzError('INVALID', `invalid ${family === 6 ? 'IPv6 gateway' : 'gateway'} "${raw}": not an IPv${family} address`);
    return g.addr;
  };
}

const NETIF_KEYS = new Set(['ifname', 'mac', 'host_ifname', 'host_mac', 'bridge', 'ip', 'gateway', 'gateway6']);

/**
 * One bridged interface in its stored form (what create and set store under "netif", and what
 * an archive carries), every field checked as its flag's value would be. Used on what comes
 * from an archive and again where the interface is turned into commands.
 */
export function parseStoredNetif(raw: unknown): NetIf {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new VzError('INVALID', '"netif" items must be mappings of ifname, mac, host_ifname, host_mac, bridge, ip, gateway, gateway6');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!NETIF_KEYS.has(k)) throw new VzError('INVALID', `"netif" item: unknown key "${k}"`);
  const str = (k: string): string => {
    if (typeof o[k] !== 'string') throw new VzError('INVALID', `"netif" item: "${k}" must be a string`);
    return o[k] as string;
  };
  const ifname = checkIfname(str('ifname'), 'interface name');
  if (RESERVED_IFNAMES.includes(ifname)) throw new VzError('INVALID', `"netif" item: ${ifname} is reserved (venet0 is the routed interface)`);
  const out: NetIf = {
    ifname,
    mac: parseMac(str('mac')),
    host_ifname: checkIfname(str('host_ifname'), 'host interface name'),
    host_mac: parseMac(str('host_mac'), 'host MAC address'),
    ip: [],
  };
  if (o.bridge !== undefined) out.bridge = checkIfname(str('bridge'), 'bridge name');
  if (!Array.isArray(o.ip)) throw new VzError('INVALID', `"netif" item ${ifname}: "ip" must be a list`);
  out.ip = o.ip.map((a) => {
    if (typeof a !== 'string') throw new VzError('INVALID', `"netif" item ${ifname}: addresses must be strings`);
    return formatIp(parseIp(a));
  });
  if (o.gateway !== undefined) out.gateway = parseGw(4)(str('gateway')) ?? undefined;
  if (o.gateway6 !== undefined) out.gateway6 = parseGw(6)(str('gateway6')) ?? undefined;
  if (out.gateway === undefined) delete out.gateway;
  if (out.gateway6 === undefined) delete out.gateway6;
  return out;
}

/** The stored "netif" list: each item as parseStoredNetif, names unique. */
export function parseStoredNetifs(raw: unknown): NetIf[] {
  if (!Array.isArray(raw)) throw new VzError('INVALID', '"netif" must be a list of interfaces');
  const list = raw.map(parseStoredNetif);
  for (const k of ['ifname', 'host_ifname'] as const) {
    const seen = new Set<string>();
    for (const n of list) {
      if (seen.has(n[k])) throw new VzError('INVALID', `"netif": ${n[k]} is named twice`);
      seen.add(n[k]);
    }
  }
  return list;
}
