/**
 * v1 cpuset. A new cpuset cgroup starts with empty cpuset.cpus/mems and refuses tasks
 * (ENOSPC) until both are set, so every level we create copies them from its parent.
 */
import { dirname, join } from 'node:path';
import type { ResourceLimits } from '../types.js';
import { readText, writeValue } from '../cgfs.js';

const FILES = ['cpuset.cpus', 'cpuset.mems'];

/** Fills empty cpuset.cpus/mems of dir from its parent; values already set are kept. */
export function initCpuset(dir: string, ctid?: number): void {
  for (const f of FILES) {
    if ((readText(join(dir, f)) ?? '').trim() !== '') continue;
    const parent = (readText(join(dirname(dir), f)) ?? '').trim();
    if (parent) writeValue(join(dir, f), parent, `${f} (copied from parent)`, ctid);
  }
}

export function applyCpuset(dir: string, limits: ResourceLimits, ctid?: number): void {
  if (limits.cpus !== undefined) writeValue(join(dir, 'cpuset.cpus'), limits.cpus, `cpu set "${limits.cpus}"`, ctid);
}
