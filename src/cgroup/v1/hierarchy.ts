/**
 * Finds the cgroup hierarchies mounted below fsRoot on a v1 (legacy or hybrid) host. A real
 * root is read from /proc/self/mountinfo (so co-mounts like cpu,cpuacct and symlinks resolve
 * right); a fake test tree has no mounts, so its sub-directories are taken as hierarchies.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { parseMountinfo as parseAllMounts } from '../../sys/mounts.js';
import { join } from 'node:path';

export interface Hierarchy {
  /** Mount point, e.g. /sys/fs/cgroup/memory. */
  mount: string;
  /** Controllers bound to it, e.g. ['cpu', 'cpuacct']; empty for named and unified ones. */
  controllers: string[];
  /** 'memory', 'cpu,cpuacct', 'name=systemd', or 'unified' for the cgroup2 mount of a hybrid host. */
  name: string;
}

export interface Hierarchies {
  list: Hierarchy[];
  /** fsRoot is a plain directory tree (unit tests), not real cgroup mounts. */
  fake: boolean;
}

/** Mount options of a v1 cgroup superblock that are not controllers. */
const NOT_CONTROLLERS = new Set(['rw', 'ro', 'noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode', 'favordynmods', 'nofavordynmods']);

/** Parses mountinfo text; keeps cgroup/cgroup2 mounts strictly below fsRoot, one per superblock. */
export function parseMountinfo(text: string, fsRoot: string): Hierarchy[] {
  const root = fsRoot.replace(/\/+$/, '');
  const seen = new Set<string>();
  const out: Hierarchy[] = [];
  for (const m of parseAllMounts(text)) {
    if (m.fsType !== 'cgroup' && m.fsType !== 'cgroup2') continue;
    const mount = m.mountPoint;
    if (!mount.startsWith(root + '/') || mount.slice(root.length + 1).includes('/')) continue;
    if (seen.has(m.majorMinor)) continue; // the same hierarchy bind-mounted twice
    seen.add(m.majorMinor);
    if (m.fsType === 'cgroup2') {
      out.push({ mount, controllers: [], name: 'unified' });
      continue;
    }
    const opts = m.superOptions.filter((o) => o && !NOT_CONTROLLERS.has(o) && !o.startsWith('release_agent='));
    const named = opts.find((o) => o.startsWith('name='));
    const controllers = opts.filter((o) => !o.includes('='));
    out.push({ mount, controllers, name: controllers.length ? controllers.join(',') : (named ?? mount) });
  }
  return out;
}

/** Fake tree: every sub-directory is a hierarchy named after its controllers ("cpu,cpuacct"). */
function fromDirectories(fsRoot: string): Hierarchy[] {
  let names: string[];
  try {
    names = readdirSync(fsRoot, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
  return names.map((n) => {
    const mount = join(fsRoot, n);
    if (n === 'unified') return { mount, controllers: [], name: 'unified' };
    if (n === 'systemd' || n.startsWith('name=')) return { mount, controllers: [], name: n.startsWith('name=') ? n : 'name=systemd' };
    return { mount, controllers: n.split(','), name: n };
  });
}

export function discoverHierarchies(fsRoot: string, mountinfoFile = '/proc/self/mountinfo'): Hierarchies {
  let text = '';
  try {
    text = readFileSync(mountinfoFile, 'utf8');
  } catch {
    // no /proc: treat like a fake tree
  }
  const real = parseMountinfo(text, fsRoot);
  return real.length ? { list: real, fake: false } : { list: fromDirectories(fsRoot), fake: true };
}
