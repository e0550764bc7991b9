/** Pids of a cgroup subtree and killing them; shared by the v1 and v2 managers. */
import { join } from 'node:path';
import { cgroupTree, readPids } from './cgfs.js';
import { systemError } from '../base/errors.js';

/** Every pid in the given cgroups and their sub-cgroups (sorted, without duplicates). */
export function treePids(dirs: string[]): number[] {
  const all = new Set<number>();
  for (const d of dirs) for (const c of cgroupTree(d)) for (const p of readPids(join(c, 'cgroup.procs'))) all.add(p);
  return [...all].sort((a, b) => a - b);
}

/** SIGKILLs pids; already-gone ones are fine. Never ourselves, whatever a cgroup lists. */
export function killPids(pids: number[], ctid?: number): void {
  for (const pid of pids) {
    if (pid === process.pid || pid <= 1) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw systemError(`cannot kill pid ${pid}`, e, { ctid, code: 'SYSTEM' });
    }
  }
}
