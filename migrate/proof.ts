/**
 * DEST's proof that it runs a container it just restored or started, sent back with the reply:
 * the init's host pid is alive, and every task of the container (init's pid namespace) is in THIS node's cgroups of the container, in every hierarchy. A restore that put the
 * tasks somewhere else (CRIU restoring into the cgroup paths recorded on the source, as happens
 * with --manage-cgroups and no --cgroup-root) is not a running container of this node: its
 * limits are not applied, and the source's "stop" would kill it. The check takes a few ms.
 */
import fs from 'node:fs';
import type { Context } from '../src/core/context.js';
import { treePids } from '../src/cgroup/procs.js';
import { pidAlive, procComm } from '../src/sys/proc.js';

export interface RunProof {
  ok: boolean;
  initPid: number;
  /** init's /proc/PID/cgroup, one line per hierarchy joined by ';'. */
  cgroup: string;
  /** This node's cgroup directories of the container. */
  expected: string[];
  /** Live tasks of the container (init's pid namespace and below). */
  tasks: number;
  why?: string;
}

/** Host pids of the tasks in init's pid namespace (CRIU restores no nested one). */
function tasksOf(initPid: number): number[] {
  let ino: number;
  try {
    ino = fs.statSync(`/proc/${initPid}/ns/pid`).ino;
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.statSync(`/proc/${d}/ns/pid`).ino === ino) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out.filter(pidAlive);
}

function cgroupsOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').join(';');
  } catch {
    return '';
  }
}

export function proveRunning(ctx: Context, ctid: number, initPid: number): RunProof {
  const expected = ctx.cgroup(ctid).dirs();
  const base = { initPid, cgroup: cgroupsOf(initPid), expected };
  if (!pidAlive(initPid)) return { ...base, ok: false, tasks: 0, why: `init (pid ${initPid}) is not running` };
  const tasks = tasksOf(initPid);
  const members = expected.map((d) => new Set(treePids([d])));
  for (const pid of tasks) {
    let outside = expected.findIndex((_, i) => !members[i]!.has(pid));
    // Listed before the cgroups were read, so only an exit can explain a miss: look again.
    if (outside >= 0) outside = pidAlive(pid) ? expected.findIndex((d) => !treePids([d]).includes(pid)) : -1;
    if (outside >= 0 && pidAlive(pid)) {
      return { ...base, ok: false, tasks: tasks.length, why: `pid ${pid} (${procComm(pid) ?? '?'}) is in cgroup ${cgroupsOf(pid) || '?'}, not in this node's ${expected[outside]}` };
    }
  }
  if (!tasks.length) return { ...base, ok: false, tasks: 0, why: 'no live task' };
  return { ...base, ok: true, tasks: tasks.length };
}
