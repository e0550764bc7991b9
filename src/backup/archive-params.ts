/**
 * An archive's stored parameters, checked as if an admin had typed them: every value goes
 * through the parameter table's parser (netif, kept in its stored form, through the same field
 * checks). Keys that are not stored parameters are refused, and so are the "_" keys of the
 * node's own, unless they are exactly what this node derives from the OS template (archives of
 * older vzdumps carry them).
 *
 * What widens a container's access to the host is the admin's decision, not the archive's: host
 * device nodes, capabilities that are off by default, the host bridge an interface joins and a
 * host interface name of the archive's choosing are dropped unless the admin trusts the archive
 * (vzrestore --trust-archive); the restore names what it dropped.
 */
import { isDeepStrictEqual } from 'node:util';
import { VzError } from '../base/errors.js';
import { paramByKey, parseParams, type ParamValues } from '../config/params.js';
import { DEFAULT_OFF } from '../config/caps.js';
import { isInternalKey } from '../config/templates.js';
import { show } from '../config/values.js';
import { applyDelta, emptyNet, type NetIf } from '../net/config.js';
import { parseStoredNetifs, type NetifSpec } from '../net/params.js';
import { hostIfname } from '../net/ifname.js';

/** Table keys that are changes or actions, never part of a stored config. */
const NOT_STORED = new Set(['name', 'userpasswd', 'ssh_key', 'ipdel', 'netif_del', 'ifname', 'gateway', 'gateway6']);

export interface ArchiveParamsOptions {
  /** The admin vouches for the archive: privileged parameters are kept. */
  trust: boolean;
  /** What this node derives for the "_" keys (the OS template's). */
  internals: Record<string, unknown>;
  /** Where the backup was taken and where it goes (host interface names are per node and CTID). */
  source: { node: string; ctid: number };
  target: { node: string; ctid: number };
  /** Prefix of error messages ("ARCHIVE: vzdump.yaml"). */
  where: string;
}

export interface ArchiveParams {
  /** The stored form (what the state database keeps): the parameters, typed by the table, and the node's own "_" keys. */
  params: Record<string, unknown>;
  /** What was left out for want of --trust-archive, one phrase each. */
  dropped: string[];
}

/** The stored form back into what the flag's parser takes. */
function storedToRaw(key: string, v: unknown): unknown {
  if (v === null) return key === 'cpumask' ? 'all' : 'unlimited';
  if (key === 'diskspace' || key === 'diskinodes') {
    if (typeof v !== 'object' || Array.isArray(v)) throw new VzError('INVALID', `expected a mapping of soft and hard, got ${show(v)}`);
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== 'soft' && k !== 'hard') throw new VzError('INVALID', `unknown key "${k}"`);
    const part = (x: unknown) => {
      if (x === null) return 'unlimited';
      if (typeof x === 'number') return String(x);
      throw new VzError('INVALID', `soft and hard must be numbers or null, got ${show(x)}`);
    };
    return `${part(o.soft)}:${part(o.hard)}`;
  }
  if (key === 'devnodes' || key === 'capability' || key === 'features') {
    if (typeof v !== 'object' || Array.isArray(v)) throw new VzError('INVALID', `expected a mapping, got ${show(v)}`);
    return Object.entries(v as Record<string, unknown>).map(([k, x]) => {
      if (typeof x !== 'string') throw new VzError('INVALID', `${k}: expected a string, got ${show(x)}`);
      return `${k}:${x}`;
    });
  }
  return v;
}

/** True for a host interface name vzkit generated for the backed-up container (not a user's choice). */
function generatedHostName(name: string, src: { node: string; ctid: number }, count: number): boolean {
  for (let k = 0; k < count + 64; k++) if (hostIfname(src.node, src.ctid, k) === name) return true;
  return false;
}

export function archiveParams(raw: Record<string, unknown>, o: ArchiveParamsOptions): ArchiveParams {
  const params: ParamValues = {};
  const dropped: string[] = [];
  let netifs: NetIf[] | undefined;
  let storedNetifs: NetIf[] | undefined;
  for (const [key, value] of Object.entries(raw)) {
    const fail = (why: string, cause?: unknown) => new VzError('INVALID', `${o.where}: params.${key}: ${why}`, { cause, hint: 'the archive was not restored' });
    if (isInternalKey(key)) {
      // Older archives carry them: accepted when they say what this node derives anyway.
      if (Object.hasOwn(o.internals, key) && isDeepStrictEqual(value, o.internals[key])) continue;
      throw fail(`internal keys are not taken from an archive (this node derives ${Object.keys(o.internals).join(', ')} from the OS template)`);
    }
    const def = paramByKey(key);
    if (!def || NOT_STORED.has(key)) throw fail(def ? 'not a stored parameter' : 'unknown parameter');
    try {
      if (key === 'netif') netifs = parseStoredNetifs(value);
      else Object.assign(params, parseParams({ [key]: storedToRaw(key, value) }, 'create'));
    } catch (e) {
      if (!(e instanceof VzError)) throw e;
      throw fail(e.message, e);
    }
  }

  if (!o.trust) {
    const granted = Object.entries(params.devnodes ?? {}).filter(([, perm]) => perm !== 'none');
    if (granted.length) dropped.push(`devnodes ${granted.map(([n, p]) => `${n}:${p}`).join(',')}`);
    delete params.devnodes;
    const caps = params.capability;
    if (caps) {
      for (const [name, v] of Object.entries(caps)) {
        if (v === 'on' && DEFAULT_OFF.includes(name)) {
          dropped.push(`capability ${name}:on`);
          delete caps[name];
        }
      }
      if (Object.keys(caps).length === 0) delete params.capability;
    }
    // nesting loosens the container's seccomp policy (user, PID... namespaces inside): the
    // node's admin turns it on, not an archive.
    const feats = params.features;
    if (feats?.nesting === 'on') {
      dropped.push('features nesting:on');
      delete feats.nesting;
      if (Object.keys(feats).length === 0) delete params.features;
    }
  }

  if (netifs?.length) {
    // Host ends are named after the node and CTID they run on: generated names are made anew
    // for the target (a copy beside the original must not take its interfaces' names).
    const specs: NetifSpec[] = netifs.map((n) => {
      const spec: NetifSpec = { ifname: n.ifname, mac: n.mac, host_mac: n.host_mac };
      if (!generatedHostName(n.host_ifname, o.source, netifs!.length)) {
        if (o.trust) spec.host_ifname = n.host_ifname;
        else dropped.push(`host interface name ${n.host_ifname} of ${n.ifname}`);
      }
      if (n.bridge !== undefined) {
        if (o.trust) spec.bridge = n.bridge;
        else dropped.push(`bridge ${n.bridge} of ${n.ifname}`);
      }
      return spec;
    });
    let cfg;
    try {
      cfg = applyDelta(emptyNet(), { netif: specs }, o.target);
    } catch (e) {
      throw new VzError('INVALID', `${o.where}: params.netif: ${(e as Error).message}`, { cause: e, hint: 'the archive was not restored' });
    }
    storedNetifs = cfg.netifs.map((n, i) => {
      const from = netifs![i]!;
      return { ...n, ip: from.ip, ...(from.gateway ? { gateway: from.gateway } : {}), ...(from.gateway6 ? { gateway6: from.gateway6 } : {}) };
    });
  }
  return { params: { ...params, ...(storedNetifs ? { netif: storedNetifs } : {}), ...o.internals }, dropped };
}
