/**
 * The one parameter table (vzctl's config table is the model): CLI flags, profile/template
 * YAML and the stored per-container config all go through it, so a parameter is named,
 * documented and validated in exactly one place. Adding a parameter = adding one literal.
 */
import { VzError } from '../base/errors.js';
import { parseCtName, parseHostname } from './names.js';
import { show, toBool, toInt, toStr } from './values.js';
import * as L from './limits.js';
import { parseSshKey, parseUserPasswd } from '../distro/users.js';
import { parseCapabilities } from './caps.js';
import { parseFeatures } from './features.js';

const toList = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);
import * as N from '../net/params.js';
import type { NetIf } from '../net/config.js';
import { parseRate } from '../net/rate.js';

export type ParamType = 'string' | 'int' | 'size' | 'bool' | 'signal' | 'list';
export type ParamWhere = 'create' | 'set' | 'profile';

export interface ParamDef<T = unknown> {
  key: string; // YAML and DB key, snake_case
  flag: string; // CLI flag without dashes (vzctl's name)
  type: ParamType;
  unit?: string; // for docs ('bytes', 'seconds', ...)
  describe: string; // one line for --help and README
  where: ReadonlyArray<ParamWhere>;
  /**
   * The live group whose applier (src/core/appliers) the core runs on `set`; absent = takes
   * effect on restart. CONFIG_ONLY = only read from the stored config: nothing to apply.
   */
  liveApply?: LiveGroup | typeof CONFIG_ONLY;
  /** Accepts the CLI string form and the YAML-native form; throws VzError naming the value. */
  parse(raw: unknown): T;
  /** A change to what is stored rather than a replacement (set): the new value from the stored one and the change. */
  merge?(stored: T | undefined, change: T): T;
}

/** liveApply value for parameters only read from the stored config (at start, stop, boot...): they never need a restart. */
export const CONFIG_ONLY = 'config';

/** The live groups: each has one applier in src/core/appliers, which `set` runs when a key of the group changes. */
export const LIVE_GROUPS = ['net', 'disk', 'cgroup', 'devices', 'ioprio', 'hostname', 'access'] as const;
export type LiveGroup = (typeof LIVE_GROUPS)[number];

const CT: ReadonlyArray<ParamWhere> = ['create', 'set'];
const ALL: ReadonlyArray<ParamWhere> = ['create', 'set', 'profile'];

/** on/off settings (capability, features): a change names some, the others keep their stored setting. */
const mergeSettings = <T extends object>(stored: T | undefined, change: T): T => ({ ...stored, ...change });

function parseDescription(raw: unknown): string {
  const s = toStr(raw, 'description');
  // One line: it is shown in `vzkit list` tables.
  if (/[\r\n]/.test(s)) throw new VzError('INVALID', `invalid description ${show(raw)}: must be a single line`);
  if (/[\x00-\x1f\x7f]/.test(s)) throw new VzError('INVALID', `invalid description ${show(raw)}: contains control characters`);
  if ([...s].length > 255) throw new VzError('INVALID', `invalid description: longer than 255 characters`);
  return s;
}

const TABLE = [
  {
    key: 'hostname',
    flag: 'hostname',
    type: 'string',
    describe: 'Host name of the container (RFC 1123)',
    where: CT,
    liveApply: 'hostname',
    parse: parseHostname,
  },
  {
    key: 'name',
    flag: 'name',
    type: 'string',
    describe: 'Container name, usable wherever a CTID is',
    where: CT,
    liveApply: CONFIG_ONLY,
    parse: parseCtName,
  },
  {
    key: 'description',
    flag: 'description',
    type: 'string',
    describe: 'Free-form one-line description',
    where: CT,
    liveApply: CONFIG_ONLY,
    parse: parseDescription,
  },
  {
    key: 'onboot',
    flag: 'onboot',
    type: 'bool',
    describe: 'Start the container when the node boots (yes/no)',
    where: ALL,
    liveApply: CONFIG_ONLY,
    parse: (v) => toBool(v, 'onboot'),
  },
  {
    key: 'bootorder',
    flag: 'bootorder',
    type: 'int',
    describe: 'Start order at boot (vzd): higher numbers start first; unset starts last',
    where: ALL,
    liveApply: CONFIG_ONLY,
    parse: (v) => toInt(v, 'bootorder', { min: 0, max: 1_000_000 }),
  },
  {
    key: 'stop_timeout',
    flag: 'stop-timeout',
    type: 'int',
    unit: 'seconds',
    describe: 'How long stop waits after the halt signal before SIGKILL',
    where: ALL,
    liveApply: CONFIG_ONLY,
    parse: (v) => toInt(v, 'stop_timeout', { min: 1, max: 3600, unit: 'seconds' }),
  },

  // Resource limits (cgroups). liveApply 'cgroup': a running container gets the change at once.
  { key: 'ram', flag: 'ram', type: 'size', unit: 'bytes', describe: 'RAM: the memory limit (K/M/G/T, unlimited)', where: ALL, liveApply: 'cgroup', parse: L.parseRam },
  { key: 'swap', flag: 'swap', type: 'size', unit: 'bytes', describe: 'Swap on top of RAM: RAM+swap is the memory+swap limit (vSwap)', where: ALL, liveApply: 'cgroup', parse: L.parseSwap },
  { key: 'cpus', flag: 'cpus', type: 'int', describe: 'How many CPUs the container sees and may use (unlimited = all)', where: ALL, liveApply: 'cgroup', parse: L.parseCpus },
  { key: 'cpulimit', flag: 'cpulimit', type: 'int', unit: '%', describe: 'CPU time limit in percent of one CPU (100 = one full core; unlimited)', where: ALL, liveApply: 'cgroup', parse: L.parseCpuLimit },
  { key: 'cpuunits', flag: 'cpuunits', type: 'int', describe: 'Relative CPU weight, 8..500000 (default 1000)', where: ALL, liveApply: 'cgroup', parse: L.parseCpuUnits },
  { key: 'cpumask', flag: 'cpumask', type: 'string', describe: 'CPUs the container may run on, e.g. 0-1,3 (all = no restriction)', where: ALL, liveApply: 'cgroup', parse: L.parseCpuMask },
  { key: 'numproc', flag: 'numproc', type: 'int', describe: 'Limit of processes and threads (unlimited)', where: ALL, liveApply: 'cgroup', parse: L.parseNumproc },
  { key: 'iolimit', flag: 'iolimit', type: 'size', unit: 'bytes/s', describe: 'Disk bandwidth limit on the storage device, read and write each (0 = unlimited)', where: ALL, liveApply: 'cgroup', parse: L.parseIoLimit },
  { key: 'iopslimit', flag: 'iopslimit', type: 'int', unit: 'IO/s', describe: 'Disk I/O operations per second limit (0 = unlimited)', where: ALL, liveApply: 'cgroup', parse: L.parseIopsLimit },
  // Disk: the layout of the private area and its limits.
  { key: 'layout', flag: 'layout', type: 'string', describe: 'Private area layout: dir (a directory; limits by project quota) or image (ext4 in a sparse file; the limit is its size)', where: ['create', 'profile'], parse: L.parseLayout },
  { key: 'diskspace', flag: 'diskspace', type: 'size', unit: 'bytes', describe: 'Disk space limit SOFT[:HARD] (K/M/G/T, unlimited)', where: ALL, liveApply: 'disk', parse: L.parseDiskspace },
  { key: 'diskinodes', flag: 'diskinodes', type: 'int', describe: 'Inode limit SOFT[:HARD] (image: fixed at create, the file system gets that many inodes)', where: ALL, liveApply: 'disk', parse: L.parseDiskinodes },
  { key: 'quotatime', flag: 'quotatime', type: 'int', unit: 'seconds', describe: 'Grace period of the soft disk limits: how long usage may stay above them (dir layout; per node file system)', where: ALL, liveApply: 'disk', parse: L.parseQuotaTime },
  { key: 'devnodes', flag: 'devnodes', type: 'list', describe: 'Host device nodes the container may use: NAME:r|w|rw|none (NAME under /dev, none removes)', where: CT, liveApply: 'devices', parse: L.parseDevnodes, merge: L.mergeDevnodes },
  { key: 'ioprio', flag: 'ioprio', type: 'int', describe: "I/O priority 0..7 (best-effort level of every task, like ionice -c2; 4 = default)", where: ALL, liveApply: 'ioprio', parse: L.parseIoPrio },
  // Networking (src/net). liveApply 'net': a running container gets the change at once.
  // ip_address and netif are stored as the whole list; the flags add to it (ipdel, netif_del remove).
  { key: 'capability', flag: 'capability', type: 'list', describe: "Turn a capability of the container's root on or off: NAME:on|off (repeatable; a change, merged with what is stored; takes effect at the next start and for new exec)", where: ALL, parse: parseCapabilities, merge: mergeSettings },
  { key: 'features', flag: 'features', type: 'list', describe: 'Turn a feature on or off: NAME:on|off[,...] (repeatable; a change, merged with what is stored; takes effect at the next start and for new exec). nesting:on allows namespaces inside that CRIU cannot checkpoint (Docker, unshare -p) and makes the container not live-migratable', where: ALL, parse: parseFeatures, merge: mergeSettings },
  // Access: applied to the container's files at once (running or stopped) and never stored.
  { key: 'userpasswd', flag: 'userpasswd', type: 'list', describe: 'Set USER:PASSWORD (repeatable); the user is created when missing (with a group and /home/USER)', where: ['set'], liveApply: 'access', parse: (v) => toList(v).map(parseUserPasswd) },
  { key: 'ssh_key', flag: 'ssh-key', type: 'list', describe: "Add [USER:]KEY to the user's ~/.ssh/authorized_keys (repeatable; root by default)", where: ['set'], liveApply: 'access', parse: (v) => toList(v).map(parseSshKey) },
  { key: 'ip_address', flag: 'ipadd', type: 'list', describe: 'Add IP addresses ADDR[/PREFIX] (repeatable): routed (venet0), or on the bridged interface named by --ifname', where: CT, liveApply: 'net', parse: N.parseIpAdd },
  { key: 'ipdel', flag: 'ipdel', type: 'list', describe: 'Remove IP addresses (ADDR or all): routed, or of the interface named by --ifname', where: ['set'], liveApply: 'net', parse: N.parseIpDel },
  { key: 'nameserver', flag: 'nameserver', type: 'list', describe: 'DNS servers for /etc/resolv.conf (repeatable), or inherit (the host\'s)', where: ALL, liveApply: 'net', parse: N.parseNameserver },
  { key: 'searchdomain', flag: 'searchdomain', type: 'list', describe: 'DNS search domains for /etc/resolv.conf', where: ALL, liveApply: 'net', parse: N.parseSearchdomain },
  { key: 'netif', flag: 'netif_add', type: 'list', describe: 'Add a bridged veth interface IFNAME[,MAC,HOST_IFNAME,HOST_MAC,BRIDGE] (repeatable; empty fields are generated)', where: CT, liveApply: 'net', parse: N.parseNetifAdd },
  { key: 'netif_del', flag: 'netif_del', type: 'list', describe: 'Remove a bridged interface (IFNAME or all)', where: ['set'], liveApply: 'net', parse: N.parseNetifDel },
  { key: 'ifname', flag: 'ifname', type: 'string', describe: 'The bridged interface that --ipadd, --ipdel, --gw and --gw6 apply to', where: CT, liveApply: 'net', parse: N.parseIfname },
  { key: 'gateway', flag: 'gw', type: 'string', describe: 'IPv4 default gateway of the interface named by --ifname (none removes it)', where: CT, liveApply: 'net', parse: N.parseGw(4) },
  { key: 'rate', flag: 'rate', type: 'int', unit: 'bits/s', describe: 'Bandwidth limit of each interface, each direction, e.g. 100M (unlimited removes it)', where: ALL, liveApply: 'net', parse: parseRate },
  { key: 'gateway6', flag: 'gw6', type: 'string', describe: 'IPv6 default gateway of the interface named by --ifname (none removes it)', where: CT, liveApply: 'net', parse: N.parseGw(6) },
] as const satisfies ReadonlyArray<ParamDef>;

type Entry = (typeof TABLE)[number];
/** A key of the table. */
export type ParamKey = Entry['key'];

export const PARAMS: ReadonlyArray<ParamDef & { key: ParamKey }> = TABLE;
/** The parsed value of a key: what its parse() returns. */
export type ParamValue<K extends ParamKey> = ReturnType<Extract<Entry, { key: K }>['parse']>;
/**
 * Parsed parameters, typed by the table: a create or set change, a profile's or template's
 * defaults. A stored config (CtParams) is one too, so code that reads values takes this type.
 */
export type ParamValues = { [K in ParamKey]?: ParamValue<K> };
/**
 * A container's stored parameters: the table's keys with their parsed values, except netif,
 * stored in its full form (names and MACs generated at create or set). The node's own keys
 * (init, halt signal...) are not among them: see CtInternals.
 */
export type CtParams = Omit<ParamValues, 'netif'> & { netif?: NetIf[] };
/** Raw values keyed by param key, not parsed yet (the CLI's strings, as paramsFromArgs picks them). */
export type RawParams = { [K in ParamKey]?: unknown };

const BY_KEY = new Map<string, ParamDef>(PARAMS.map((p) => [p.key, p]));
const BY_FLAG = new Map(PARAMS.map((p) => [p.flag, p]));

export function paramByKey(key: string): ParamDef | undefined {
  return BY_KEY.get(key);
}

export function paramByFlag(flag: string): ParamDef | undefined {
  return BY_FLAG.get(flag);
}

const GROUP_KEYS = new Map<LiveGroup, readonly ParamKey[]>(LIVE_GROUPS.map((g) => [g, PARAMS.filter((p) => p.liveApply === g).map((p) => p.key)]));

/** The keys of a live group, in table order: the one list of, e.g., the cgroup limits or the network keys. */
export function groupKeys(group: LiveGroup): readonly ParamKey[] {
  return GROUP_KEYS.get(group)!;
}

/** The values of `params` that belong to a live group, in the order of `params` (an empty object when none does). */
export function pickGroup<P extends ParamValues | CtParams>(params: P, group: LiveGroup): P {
  return Object.fromEntries(Object.entries(params).filter(([k]) => BY_KEY.get(k)?.liveApply === group)) as P;
}

/** A set's change with the keys whose change merges with what is stored (devnodes, capability, features) merged. */
export function mergeStored(change: ParamValues, stored: CtParams): ParamValues {
  const out: Record<string, unknown> = { ...change };
  for (const [key, value] of Object.entries(change)) {
    const merge = BY_KEY.get(key)?.merge;
    if (merge && value !== undefined) out[key] = merge(stored[key as keyof CtParams], value);
  }
  return out as ParamValues;
}

const WHERE_TEXT: Record<ParamWhere, string> = {
  create: 'create',
  set: 'set',
  profile: 'a profile or template defaults',
};

/**
 * Parses a map of raw values keyed by param key (the CLI maps flags to keys first).
 * Undefined values are skipped. Without `source` errors keep their own code (INVALID,
 * BAD_HOSTNAME...); with one they become INVALID_CONFIG prefixed by the location, where
 * `source` is a prefix such as a file name, or a function giving "file:line" for a key.
 */
export function parseParams(
  raw: Record<string, unknown>,
  where: ParamWhere,
  source?: string | ((key: string) => string),
): ParamValues {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    try {
      const def = paramByKey(key);
      if (def === undefined) {
        const near = paramByFlag(key) ?? paramByKey(key.toLowerCase().replace(/-/g, '_'));
        throw new VzError('INVALID', `unknown ${source === undefined ? 'parameter' : 'key'} "${key}"`, {
          hint: near ? `did you mean "${near.key}"?` : undefined,
        });
      }
      if (!def.where.includes(where)) {
        throw new VzError('INVALID', `"${key}" cannot be used in ${WHERE_TEXT[where]} (only in: ${def.where.join(', ')})`);
      }
      out[key] = def.parse(value);
    } catch (e) {
      if (source === undefined || !(e instanceof VzError)) throw e;
      const at = typeof source === 'string' ? source : source(key);
      throw new VzError('INVALID_CONFIG', `${at}: ${e.message}`, { hint: e.hint, cause: e });
    }
  }
  // Every value came from its key's parse(): the table's types hold.
  return out as ParamValues;
}
