/**
 * v2 io.max: one line per device, "MAJ:MIN rbps=N wbps=N riops=N wiops=N"; "max" lifts a limit.
 * 0 means "no limit" as in v1's blkio (where 0 removes the rule): io.max would refuse it (ERANGE).
 */
import { join } from 'node:path';
import type { IoLimit, ResourceLimits } from '../types.js';
import { writeValue } from '../cgfs.js';
import { checkCount } from '../units.js';

const KEYS = ['rbps', 'wbps', 'riops', 'wiops'] as const;

/** The io.max line for one device, or undefined if it sets nothing. Keys left out keep their value. */
export function ioMaxLine(io: IoLimit): string | undefined {
  const parts: string[] = [];
  for (const k of KEYS) {
    const v = io[k];
    if (v === undefined) continue;
    if (v !== null) checkCount(`io ${k} limit`, v);
    parts.push(`${k}=${v === null || v === 0 ? 'max' : v}`);
  }
  return parts.length ? `${io.major}:${io.minor} ${parts.join(' ')}` : undefined;
}

export function applyIo(dir: string, limits: ResourceLimits, ctid?: number): void {
  for (const io of limits.io ?? []) {
    const line = ioMaxLine(io);
    if (line) writeValue(join(dir, 'io.max'), line, `io limit "${line}"`, ctid);
  }
}
