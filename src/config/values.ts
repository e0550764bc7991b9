/**
 * Scalar coercions shared by the param table and the YAML loaders. Each accepts both the
 * CLI string form and the YAML-native form (number, boolean, sequence), and throws
 * VzError('INVALID') naming the key and the offending value.
 */
import { constants } from 'node:os';
import { VzError } from '../base/errors.js';

/** Shows a raw value in a message the way the user wrote it. */
export function show(raw: unknown): string {
  if (typeof raw === 'string') return JSON.stringify(raw);
  if (raw === null || raw === undefined) return 'nothing';
  if (Array.isArray(raw)) return 'a list';
  if (typeof raw === 'object') return 'a mapping';
  return `${typeof raw} ${String(raw)}`;
}

export function toStr(raw: unknown, key: string): string {
  if (typeof raw === 'string') return raw;
  // No silent String(): YAML would turn `description: 1.0` into "1".
  throw new VzError('INVALID', `"${key}" must be a string, got ${show(raw)}`, {
    hint: typeof raw === 'number' || typeof raw === 'boolean' ? 'quote the value in YAML' : undefined,
  });
}

export function toInt(raw: unknown, key: string, range: { min?: number; max?: number; unit?: string } = {}): number {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER, unit } = range;
  let n: number | undefined;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw)) n = Number(raw);
  const bounds = range.min !== undefined || range.max !== undefined ? ` in ${min}..${max}${unit ? ' ' + unit : ''}` : '';
  if (n === undefined || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new VzError('INVALID', `"${key}" must be an integer${bounds}, got ${show(raw)}`);
  }
  return n;
}

const TRUE = new Set(['yes', 'true', 'on', '1']);
const FALSE = new Set(['no', 'false', 'off', '0']);

/** vzctl's yes/no plus the usual spellings; YAML 1.2 loads `yes`/`no` as strings, so both forms arrive here. */
export function toBool(raw: unknown, key: string): boolean {
  if (typeof raw === 'boolean') return raw;
  const s = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim().toLowerCase() : undefined;
  if (s !== undefined && TRUE.has(s)) return true;
  if (s !== undefined && FALSE.has(s)) return false;
  throw new VzError('INVALID', `"${key}" must be yes or no, got ${show(raw)}`);
}

/** A YAML sequence of strings, or the CLI form: items separated by commas and/or spaces. */
export function toStringList(raw: unknown, key: string): string[] {
  if (typeof raw === 'string') return raw.split(/[\s,]+/).filter((s) => s !== '');
  if (Array.isArray(raw)) {
    return raw.map((item, i) => {
      if (typeof item !== 'string') throw new VzError('INVALID', `"${key}" item ${i + 1} must be a string, got ${show(item)}`);
      return item;
    });
  }
  throw new VzError('INVALID', `"${key}" must be a list, got ${show(raw)}`);
}

export function toMapping(raw: unknown, key: string): Record<string, unknown> {
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && !(raw instanceof Map) && !(raw instanceof Set)) {
    return raw as Record<string, unknown>;
  }
  throw new VzError('INVALID', `"${key}" must be a mapping of keys, got ${show(raw)}`);
}

// Real-time signals are absent from os.constants; glibc reserves 32 and 33, so SIGRTMIN is 34.
// systemd-based guests need them (SIGRTMIN+3 = halt, +5 = reboot).
const RTMIN = 34;
const RTMAX = 64;

function signalName(n: number): string | undefined {
  for (const [name, num] of Object.entries(constants.signals)) if (num === n) return name; // first wins: SIGABRT over SIGIOT
  if (n >= RTMIN && n <= RTMAX) return n - RTMIN <= RTMAX - n ? `SIGRTMIN+${n - RTMIN}` : `SIGRTMAX-${RTMAX - n}`;
  return undefined;
}

/** 'SIGUSR1', 'USR1', 'usr1', 10 or '10' -> 'SIGUSR1'. Real-time ones normalize to 'SIGRTMIN+n'. */
export function parseSignal(raw: unknown, key = 'signal'): string {
  const fail = (why: string) => new VzError('INVALID', `invalid ${key} ${show(raw)}: ${why}`);
  if (typeof raw === 'number' || (typeof raw === 'string' && /^\s*\d+\s*$/.test(raw))) {
    const name = signalName(Number(raw));
    if (name === undefined) throw fail('no such signal number');
    return name;
  }
  if (typeof raw !== 'string') throw fail('expected a signal name like SIGTERM or a number');
  let s = raw.trim().toUpperCase();
  if (!s.startsWith('SIG')) s = 'SIG' + s;
  if (Object.hasOwn(constants.signals, s)) return signalName(constants.signals[s as keyof typeof constants.signals])!;
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(s);
  if (rt) {
    const off = rt[3] === undefined ? 0 : Number(rt[3]) * (rt[2] === '-' ? -1 : 1);
    const n = (rt[1] === 'MIN' ? RTMIN : RTMAX) + off;
    if (n >= RTMIN && n <= RTMAX) return signalName(n)!;
  }
  throw fail('unknown signal');
}

/** The number to pass to kill(2) for a name parseSignal returned. */
export function signalNumber(name: string): number {
  const canonical = parseSignal(name);
  const rt = /^SIGRT(MIN|MAX)([+-]\d+)$/.exec(canonical);
  if (rt) return (rt[1] === 'MIN' ? RTMIN : RTMAX) + Number(rt[2]);
  return constants.signals[canonical as keyof typeof constants.signals];
}
