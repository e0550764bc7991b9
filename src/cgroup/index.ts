/**
 * Entry point: picks the v1 or v2 manager. Layout: a node's cgroups live under `<node>/` and a
 * container's under `<node>/<ctid>` in every hierarchy (v1: /sys/fs/cgroup/memory/vz/101;
 * v2: /sys/fs/cgroup/vz/101).
 */
import { join } from 'node:path';
import { VzError } from '../base/errors.js';
import type { CgroupManager } from './types.js';
import { DEFAULT_CGROUP_ROOT, detectCgroupVersion, isCgroup2Mount } from './detect.js';
import { exists, removeCgroupTree, subdirs } from './cgfs.js';
import { discoverHierarchies } from './v1/hierarchy.js';
import { CgroupV1Manager } from './v1/manager.js';
import { CgroupV2Manager } from './v2/manager.js';
import type { HelperRunner } from './v2/devices.js';

export type { CgroupManager, CgroupStats, ResourceLimits, IoLimit, DeviceRule } from './types.js';
export { detectCgroupVersion } from './detect.js';
export { DEFAULT_DEVICE_RULES } from './v1/devices.js';
export { devicePrograms, type HelperRunner, type HelperResult } from './v2/devices.js';
export { weightToShares, sharesToWeight } from './units.js';

export interface CgroupManagerOptions {
  node: string;
  ctid: number;
  fsRoot?: string;
  version?: 1 | 2;
  /** Bound (ms) for freeze and for destroy's kill and rmdir waits; default 2000. */
  waitMs?: number;
  /** v2: runs ctspawn for device rules (tests inject a fake); default: the built helper. */
  runHelper?: HelperRunner;
}

const NODE_RE = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

function checkNode(node: string): void {
  if (!NODE_RE.test(node) || node.split('/').some((p) => p === '.' || p === '..')) {
    throw new VzError('INVALID', `bad cgroup node name "${node}": relative path of [A-Za-z0-9_.-] components`);
  }
}

export function createCgroupManager(opts: CgroupManagerOptions): CgroupManager {
  const { node, ctid } = opts;
  checkNode(node);
  if (!Number.isSafeInteger(ctid) || ctid <= 0) throw new VzError('INVALID', `bad container id ${ctid}`);
  const fsRoot = opts.fsRoot ?? DEFAULT_CGROUP_ROOT;
  const waitMs = opts.waitMs ?? 2000;
  const version = opts.version ?? detectCgroupVersion(fsRoot);
  return version === 2
    ? new CgroupV2Manager({ node, ctid, fsRoot, waitMs, runHelper: opts.runHelper })
    : new CgroupV1Manager({ node, ctid, fsRoot, waitMs });
}

/** The node dir in each hierarchy (one on v2), and whether they are a fake tree. */
function nodeDirs(node: string, fsRoot: string): { dirs: string[]; fake: boolean } {
  checkNode(node);
  if (detectCgroupVersion(fsRoot) === 2) return { dirs: [join(fsRoot, node)], fake: !isCgroup2Mount(fsRoot) };
  const h = discoverHierarchies(fsRoot);
  return { dirs: h.list.map((x) => join(x.mount, node)), fake: h.fake };
}

/** Container ids that have a cgroup under node in any hierarchy, ascending. */
export function listNodeCgroups(node: string, fsRoot: string = DEFAULT_CGROUP_ROOT): number[] {
  const ids = new Set<number>();
  for (const d of nodeDirs(node, fsRoot).dirs) {
    for (const n of subdirs(d)) if (/^[1-9][0-9]*$/.test(n)) ids.add(Number(n));
  }
  return [...ids].sort((a, b) => a - b);
}

/**
 * Test cleanup: rmdir every cgroup below node (deepest first) and then node itself, in every
 * hierarchy. Kills nothing; dirs that still hold tasks stay. Returns the dirs left behind.
 */
export function removeNodeCgroups(node: string, fsRoot: string = DEFAULT_CGROUP_ROOT): string[] {
  const { dirs, fake } = nodeDirs(node, fsRoot);
  const left: string[] = [];
  // Own walk instead of one removeCgroupTree: a busy dir must not stop its siblings' removal.
  const remove = (d: string): boolean => {
    let ok = true;
    for (const c of subdirs(d)) ok = remove(join(d, c)) && ok;
    try {
      if (ok) removeCgroupTree(d, fake);
    } catch {
      ok = false;
    }
    if (!ok) left.push(d);
    return ok;
  };
  for (const d of dirs) if (exists(d)) remove(d);
  return left;
}
