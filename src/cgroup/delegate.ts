/**
 * Delegation (systemd's cgroup-delegation rules): the container's root owns its cgroup
 * directory and the files that create sub-cgroups and move tasks, so an init inside (systemd)
 * can manage its own subtree. The limit files stay the host's: root inside cannot raise them.
 */
import fs from 'node:fs';
import path from 'node:path';

const DELEGATED_FILES = ['cgroup.procs', 'tasks', 'cgroup.threads', 'cgroup.subtree_control', 'notify_on_release'];

export function delegateDirs(dirs: string[], uid: number, gid: number): void {
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    fs.chownSync(dir, uid, gid);
    for (const f of DELEGATED_FILES) {
      try {
        fs.chownSync(path.join(dir, f), uid, gid);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }
}
