/** Which cgroup version a host runs. One statfs(2) (plus one stat on fake trees): hot-path cheap. */
import { existsSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** True if path is the root of a cgroup2 mount. */
export function isCgroup2Mount(path: string): boolean {
  try {
    return statfsSync(path).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/**
 * 2 only when fsRoot itself is a cgroup2 mount ("unified" layout). A hybrid host (tmpfs with v1
 * hierarchies plus a controller-less cgroup2 at unified/) and a legacy one both count as 1.
 * Fake trees in tests are plain directories, so a cgroup.controllers file at the top marks v2.
 */
export function detectCgroupVersion(fsRoot: string = DEFAULT_CGROUP_ROOT): 1 | 2 {
  if (isCgroup2Mount(fsRoot)) return 2;
  return existsSync(join(fsRoot, 'cgroup.controllers')) ? 2 : 1;
}
