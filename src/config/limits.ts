/**
 * Resource-limit parameters (vzctl's names and units) and their translation into the cgroup
 * layer's ResourceLimits (v2 semantics). Host facts (CPU count, the storage device) come in
 * through `HostInfo` so the translation stays a pure function.
 */
import { VzError } from '../base/errors.js';
import type { ResourceLimits } from '../cgroup/types.js';
import type { ParamValues } from './params.js';
import { parseSize } from './units.js';
import { show, toInt } from './values.js';

export const CPU_PERIOD_US = 100_000;

function unlimited(raw: unknown): boolean {
  return typeof raw === 'string' && raw.toLowerCase() === 'unlimited';
}

export function parseRam(raw: unknown): number | null {
  const v = parseSize(raw as string | number, { allowUnlimited: true });
  if (v !== null && v < 4 * 2 ** 20) throw new VzError('INVALID', `invalid ram ${show(raw)}: at least 4M`);
  return v;
}

export function parseSwap(raw: unknown): number | null {
  return parseSize(raw as string | number, { allowUnlimited: true });
}

/** Percent of one CPU: 100 = one full core. 0 is refused (vzctl's "unlimited" is spelled out). */
export function parseCpuLimit(raw: unknown): number | null {
  if (unlimited(raw)) return null;
  const s = typeof raw === 'string' ? raw.replace(/%$/, '') : raw;
  return toInt(s, 'cpulimit', { min: 1, max: 100 * 1024, unit: '%' });
}

export function parseCpuUnits(raw: unknown): number {
  return toInt(raw, 'cpuunits', { min: 8, max: 500_000 });
}

export function parseCpus(raw: unknown): number | null {
  if (unlimited(raw)) return null;
  return toInt(raw, 'cpus', { min: 1, max: 4096 });
}

/** A cpuset list, "0-3,6" or "all"; returned normalized ("0-3,6"). */
export function parseCpuMask(raw: unknown): string | null {
  if (typeof raw === 'number') raw = String(raw);
  if (typeof raw !== 'string') throw new VzError('INVALID', `invalid cpumask ${show(raw)}: expected a list like 0-3,6`);
  if (raw.trim().toLowerCase() === 'all') return null;
  return formatCpuList(expandCpuList(raw, 'cpumask'));
}

export function parseNumproc(raw: unknown): number | null {
  if (unlimited(raw)) return null;
  return toInt(raw, 'numproc', { min: 1, max: 4_194_304 });
}

/** Bytes per second; 0 or "unlimited" removes the limit. */
export function parseIoLimit(raw: unknown): number | null {
  const s = typeof raw === 'string' ? raw.replace(/\/s$/i, '') : raw;
  const v = parseSize(s as string | number, { allowUnlimited: true });
  return v === 0 ? null : v;
}

export function parseIopsLimit(raw: unknown): number | null {
  if (unlimited(raw)) return null;
  const v = toInt(raw, 'iopslimit', { min: 0, max: 1_000_000_000 });
  return v === 0 ? null : v;
}

export function parseIoPrio(raw: unknown): number {
  return toInt(raw, 'ioprio', { min: 0, max: 7 });
}

export function expandCpuList(list: string, key = 'cpu list'): number[] {
  const out = new Set<number>();
  for (const part of list.split(',').map((p) => p.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new VzError('INVALID', `invalid ${key} "${list}": "${part}" is not a CPU number or range`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b > 4095) throw new VzError('INVALID', `invalid ${key} "${list}": bad range "${part}"`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

export function formatCpuList(cpus: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export interface HostInfo {
  onlineCpus: number[];
  /** The block device that backs the container's private area (for I/O limits). */
  storageDevice?: { major: number; minor: number };
}

/**
 * Full limits for a container from its stored parameters. Every controller gets a value, so
 * applying it after a change also resets what was removed.
 */
export function limitsFromParams(p: ParamValues, host: HostInfo): ResourceLimits {
  const ram = p.ram;
  const swap = p.swap;
  const cpulimit = p.cpulimit;
  const cpus = p.cpus;
  const mask = p.cpumask;
  let allowed = host.onlineCpus;
  if (mask) {
    const want = expandCpuList(mask, 'cpumask');
    const bad = want.filter((c) => !host.onlineCpus.includes(c));
    if (bad.length) throw new VzError('INVALID', `cpumask ${mask}: CPU ${bad.join(',')} is not online on this host (online: ${formatCpuList(host.onlineCpus)})`);
    allowed = want;
  }
  if (cpus != null && cpus > allowed.length) {
    throw new VzError('INVALID', `cpus ${cpus}: only ${allowed.length} CPU(s) available${mask ? ` in cpumask ${mask}` : ' on this host'}`);
  }
  const cpuset = cpus != null ? allowed.slice(0, cpus) : allowed;
  const limits: ResourceLimits = {
    memoryMax: ram ?? null,
    // vSwap: RAM is the memory limit, RAM+swap the memory+swap limit; no swap given = none.
    memorySwapMax: ram == null ? null : swap === undefined ? 0 : swap,
    cpuWeight: Math.min(10_000, Math.max(1, Math.round((p.cpuunits ?? 1000) / 10))),
    cpuMax: cpulimit == null ? null : { quotaUs: Math.round((cpulimit / 100) * CPU_PERIOD_US), periodUs: CPU_PERIOD_US },
    cpus: formatCpuList(cpuset),
    pidsMax: p.numproc ?? null,
  };
  const io = p.iolimit;
  const iops = p.iopslimit;
  if (host.storageDevice && (io !== undefined || iops !== undefined)) {
    limits.io = [{ ...host.storageDevice, rbps: io ?? null, wbps: io ?? null, riops: iops ?? null, wiops: iops ?? null }];
  }
  return limits;
}

/**
 * vzctl's --devnodes: "NAME:PERM" with NAME relative to /dev (sdb1, net/tun) and PERM r, w, rw
 * or none (none removes it). Several may be given, comma or space separated.
 */
export function parseDevnodes(raw: unknown): Record<string, string> {
  const items = Array.isArray(raw) ? raw.map((v) => (typeof v === 'string' || typeof v === 'number' ? String(v) : show(v))) : typeof raw === 'string' ? raw.split(/[\s,]+/).filter(Boolean) : null;
  if (!items) throw new VzError('INVALID', `invalid devnodes ${show(raw)}: expected NAME:PERM, e.g. net/tun:rw`);
  const out: Record<string, string> = {};
  for (const item of items) {
    const m = /^([A-Za-z0-9._+-]+(?:\/[A-Za-z0-9._+-]+)*):(r|w|rw|wr|none)$/.exec(item);
    if (!m || m[1]!.split('/').some((c) => c === '.' || c === '..')) {
      throw new VzError('INVALID', `invalid devnodes entry "${item}": expected NAME:PERM (PERM r, w, rw or none), NAME under /dev`);
    }
    const why = m[2] === 'none' ? undefined : forbiddenDevName(m[1]!);
    if (why) throw new VzError('INVALID', `invalid devnodes entry "${item}": /dev/${m[1]} is ${why}`, { hint: DEVNODE_HINT });
    out[m[1]!] = m[2] === 'wr' ? 'rw' : m[2]!;
  }
  return out;
}

/** Stored devnodes merged with a change: "none" removes an entry. */
export function mergeDevnodes(stored: Record<string, string> | undefined, change: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { ...(stored ?? {}) };
  for (const [name, perm] of Object.entries(change)) {
    if (perm === 'none') delete out[name];
    else out[name] = perm;
  }
  return out;
}

const DEVNODE_HINT = "terminals, consoles, memory, input and other host-wide devices cannot be given to a container";

/**
 * Names under /dev that must never be handed to a container: the host's terminals (pts/N is a
 * session on the host; tty*, console, vcs* are its consoles and serial lines), memory (mem, kmem,
 * port, core -> /proc/kcore), the kernel log, input devices (a keylogger), and the links into
 * vzkit's own fds (fd/, stdin...). What the container needs of these it has already: its own
 * devpts, ptmx, tty and console. The host side checks the device numbers too (devnodeBlocked),
 * so another name for the same node (a symlink) does not get through either.
 */
const FORBIDDEN_DEVNAMES: Array<[RegExp, string]> = [
  [/^(pts|ptmx|console|tty.*|vcs.*|pty.*)(\/|$)/, 'a terminal of the host'],
  [/^(mem|kmem|port|core|kcore|snapshot|nvram|mcelog|oldmem)$/, "a view of the host's memory"],
  [/^kmsg$/, "the host's kernel log"],
  [/^(input|uinput|hidraw.*|fb\d+|dri\/card.*|cpu|watchdog.*)(\/|$)/, 'a device of the host itself (input, display, CPU registers, watchdog)'],
  [/^(fd|stdin|stdout|stderr)(\/|$)/, "a link to vzkit's own open files"],
  [/^(mapper\/control|loop-control|btrfs-control|vhost-.*|shm|mqueue|hugepages)$/, 'a control device or directory of the host'],
];

export function forbiddenDevName(name: string): string | undefined {
  return FORBIDDEN_DEVNAMES.find(([re]) => re.test(name))?.[1];
}

/**
 * The same rule by device number (what the name resolves to on the host): character majors of
 * terminals (2-5, 128-143 ptys, 4 vt/serial, 5 tty/console/ptmx, 7 vcs), memory (1, but for the
 * null/zero/full/random/urandom every container has), input (13), frame buffers (29), MSR and
 * CPUID (202, 203), and the misc devices that act on the whole host.
 */
export function devnodeBlocked(type: 'c' | 'b', major: number, minor: number): string | undefined {
  if (type !== 'c') return undefined;
  if ([2, 3, 4, 5, 7].includes(major) || (major >= 128 && major <= 143)) return 'a terminal of the host';
  if (major === 1 && ![3, 5, 7, 8, 9].includes(minor)) return minor === 11 ? "the host's kernel log" : "a view of the host's memory";
  if ([13, 29, 202, 203].includes(major)) return 'a device of the host itself (input, display, CPU registers)';
  // misc: watchdog, nvram, uinput, mcelog, snapshot, btrfs-control, device-mapper and loop control
  if (major === 10 && [130, 144, 223, 227, 231, 234, 236, 237].includes(minor)) return 'a control device of the host';
  return undefined;
}

export interface SoftHard {
  soft: number | null;
  hard: number | null;
}

/** vzctl's SOFT[:HARD] (diskspace in sizes, diskinodes in counts); one value means both. */
function parseSoftHard(raw: unknown, key: string, one: (v: string) => number | null): SoftHard {
  const s = typeof raw === 'number' ? String(raw) : raw;
  if (typeof s !== 'string' || s.trim() === '') throw new VzError('INVALID', `invalid ${key} ${show(raw)}: expected SOFT[:HARD]`);
  const parts = s.split(':');
  if (parts.length > 2) throw new VzError('INVALID', `invalid ${key} ${show(raw)}: expected SOFT[:HARD]`);
  const soft = one(parts[0]!);
  const hard = parts.length === 2 ? one(parts[1]!) : soft;
  if (soft !== null && hard !== null && soft > hard) throw new VzError('INVALID', `invalid ${key} ${show(raw)}: the soft limit is above the hard one`);
  return { soft, hard };
}

export function parseDiskspace(raw: unknown): SoftHard {
  return parseSoftHard(raw, 'diskspace', (v) => parseSize(v, { allowUnlimited: true }));
}

export function parseDiskinodes(raw: unknown): SoftHard {
  return parseSoftHard(raw, 'diskinodes', (v) => (v.toLowerCase() === 'unlimited' ? null : toInt(v, 'diskinodes', { min: 1, max: 2 ** 32 - 1 })));
}

/** vzctl's QUOTATIME; 0 (the soft limit acts at once) is kept as 1 s, since XFS reads 0 as its 7-day default. */
export function parseQuotaTime(raw: unknown): number {
  return Math.max(1, toInt(raw, 'quotatime', { min: 0, max: 2 ** 31 - 1 }));
}

export function parseLayout(raw: unknown): 'dir' | 'image' {
  if (raw === 'dir' || raw === 'image') return raw;
  throw new VzError('INVALID', `invalid layout ${show(raw)}: dir or image`);
}
