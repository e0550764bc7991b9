/**
 * Enabling controllers for children (cgroup.subtree_control). Only the node's ancestors and the
 * node dir itself: a v2 cgroup that has processes cannot enable controllers for its children
 * ("no internal processes"), so the container dir is left alone; whoever later creates
 * sub-cgroups inside it (systemd in the CT) must first move its processes into a leaf.
 */
import { join, relative } from 'node:path';
import { readPids, readText, writeValue } from '../cgfs.js';
import { VzError } from '../../base/errors.js';

export const WANTED_CONTROLLERS = ['cpu', 'cpuset', 'memory', 'pids', 'io'];

const words = (s: string | undefined): string[] => (s ?? '').split(/\s+/).filter(Boolean).map((w) => w.replace(/^\+/, ''));

/** A controller the kernel refused to enable in dir's cgroup.subtree_control, and its message. */
export interface EnableRefusal {
  dir: string;
  controller: string;
  error: string;
}

/**
 * Best effort: one write for all (the common case, all-or-nothing in the kernel), then one per
 * controller if that was refused, so e.g. a cpu refused for RT tasks doesn't cost memory. A
 * controller left off shows up later as a missing file when a limit needs it; the refusals are
 * returned so that error can say why (missingControllerReason).
 */
export function enableControllers(dir: string): EnableRefusal[] {
  const available = words(readText(join(dir, 'cgroup.controllers')));
  const enabled = words(readText(join(dir, 'cgroup.subtree_control')));
  const want = WANTED_CONTROLLERS.filter((c) => available.includes(c) && !enabled.includes(c));
  if (!want.length) return [];
  const file = join(dir, 'cgroup.subtree_control');
  const tryWrite = (v: string): VzError | undefined => {
    try {
      writeValue(file, v, 'enabling cgroup controllers');
      return undefined;
    } catch (e) {
      if (!(e instanceof VzError)) throw e;
      return e;
    }
  };
  if (!tryWrite(want.map((c) => '+' + c).join(' '))) return [];
  const refused: EnableRefusal[] = [];
  for (const c of want) {
    const e = tryWrite('+' + c);
    if (e) refused.push({ dir, controller: c, error: e.message });
  }
  return refused;
}

/** Controllers the kernel allows in threaded subtrees (the rest are domain controllers). */
const THREADED = ['cpu', 'cpuset', 'pids', 'perf_event'];

/**
 * Why the CT dir has no files of `controller` although the kernel may have it, or undefined if
 * it is enabled all the way down (then the file is missing for another reason, e.g. no swap
 * accounting). Walks from fsRoot to the CT's parent for the first level that does not pass the
 * controller on (cgroup.subtree_control) and looks at that level: processes in it ("no internal
 * processes"), a threaded cgroup.type, or a refusal recorded by enableControllers.
 */
export function missingControllerReason(fsRoot: string, ctDir: string, controller: string, refused: EnableRefusal[] = []): string | undefined {
  if (words(readText(join(ctDir, 'cgroup.controllers'))).includes(controller)) return undefined;
  const parts = relative(fsRoot, ctDir).split('/').filter(Boolean);
  const levels = parts.slice(0, -1).reduce((acc, p) => [...acc, join(acc[acc.length - 1]!, p)], [fsRoot]);
  const c = controller;
  for (const dir of levels) {
    const available = words(readText(join(dir, 'cgroup.controllers')));
    if (!available.includes(c)) {
      if (dir !== fsRoot) continue; // its parent did not pass it on: reported for that level (or a race)
      return `the kernel offers no ${c} controller on cgroup v2 (${join(dir, 'cgroup.controllers')}: "${available.join(' ')}"): ` +
        'not built in, disabled on the kernel command line, or bound to a cgroup v1 hierarchy';
    }
    if (words(readText(join(dir, 'cgroup.subtree_control'))).includes(c)) continue;
    const rec = refused.find((r) => r.dir === dir && r.controller === c);
    const kernel = rec ? `; the kernel refused enabling it: ${rec.error}` : '';
    const procs = dir === fsRoot ? [] : readPids(join(dir, 'cgroup.procs'));
    if (procs.length) {
      const shown = procs.slice(0, 5).join(' ') + (procs.length > 5 ? ' ...' : '');
      return `${dir} has processes (${shown}), and cgroup v2 does not enable controllers for the children of a cgroup ` +
        `that has processes (the "no internal processes" rule), so ${c} is not in its cgroup.subtree_control; ` +
        `move those processes into a leaf cgroup${kernel}`;
    }
    const type = readText(join(dir, 'cgroup.type'))?.trim();
    if (type && type !== 'domain' && (type === 'domain invalid' || !THREADED.includes(c))) {
      return `${dir} is a "${type}" cgroup (cgroup.type), below which the ${c} controller cannot be enabled${kernel}`;
    }
    if (rec) return `enabling it in ${join(dir, 'cgroup.subtree_control')} was refused: ${rec.error}`;
    return `it is not enabled in ${join(dir, 'cgroup.subtree_control')} (vzkit enables it when it creates the ` +
      'container\'s cgroup; something turned it off since, or the cgroup predates that)';
  }
  return undefined;
}
