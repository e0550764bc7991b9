/**
 * Where a process started by exec/enter joins a container on a cgroup2 hierarchy: init's own
 * cgroup, as lxc-attach, runc and crun do. A systemd inside moves itself to init.scope and may
 * enable controllers in the container's root, which the kernel then keeps free of processes
 * (v2's no-internal-process rule: EBUSY). On v1 hierarchies init stays at the container's top.
 */
import fs from 'node:fs';
import { join } from 'node:path';

/** init's cgroup2 path ("0::/node/101/init.scope" -> "/node/101/init.scope"), if readable. */
export function cgroup2PathOf(pid: number): string | undefined {
  try {
    const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    return line?.slice(3) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The cgroup.procs file to join under `mount` (a cgroup2 mount) for a container whose top is
 * `ctDir`: init's own cgroup when it is inside the container's subtree, else the top.
 */
export function joinProcsFile(mount: string, ctDir: string, initPid: number | undefined): string {
  const top = join(ctDir, 'cgroup.procs');
  if (!initPid) return top;
  const rel = cgroup2PathOf(initPid);
  if (!rel) return top;
  const dir = join(mount, rel);
  return dir === ctDir || dir.startsWith(ctDir + '/') ? join(dir, 'cgroup.procs') : top;
}
