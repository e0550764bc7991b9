/**
 * Enabling controllers for children (cgroup.subtree_control). Only the node's ancestors and the
 * node dir itself: a v2 cgroup that has processes cannot enable controllers for its children
 * ("no internal processes"), so the container dir is left alone; whoever later creates
 * sub-cgroups inside it (systemd in the CT) must first move its processes into a leaf.
 */
import { join } from 'node:path';
import { readText, writeValue } from '../cgfs.js';
import { VzError } from '../../core/errors.js';

export const WANTED_CONTROLLERS = ['cpu', 'cpuset', 'memory', 'pids', 'io'];

const words = (s: string | undefined): string[] => (s ?? '').split(/\s+/).filter(Boolean).map((w) => w.replace(/^\+/, ''));

/**
 * Best effort: one write for all (the common case, all-or-nothing in the kernel), then one per
 * controller if that was refused, so e.g. a cpu refused for RT tasks doesn't cost memory. A
 * controller left off shows up later as a missing file when a limit needs it.
 */
export function enableControllers(dir: string): void {
  const available = words(readText(join(dir, 'cgroup.controllers')));
  const enabled = words(readText(join(dir, 'cgroup.subtree_control')));
  const want = WANTED_CONTROLLERS.filter((c) => available.includes(c) && !enabled.includes(c));
  if (!want.length) return;
  const file = join(dir, 'cgroup.subtree_control');
  const tryWrite = (v: string): boolean => {
    try {
      writeValue(file, v, 'enabling cgroup controllers');
      return true;
    } catch (e) {
      if (!(e instanceof VzError)) throw e;
      return false;
    }
  };
  if (!tryWrite(want.map((c) => '+' + c).join(' '))) for (const c of want) tryWrite('+' + c);
}
