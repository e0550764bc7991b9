/** v2 freezer: cgroup.freeze=1 asks, cgroup.events "frozen 1" confirms every task stopped. */
import { join } from 'node:path';
import { readKeyed, waitUntil, writeValue } from '../cgfs.js';
import { VzError } from '../../base/errors.js';

export const isFrozen = (dir: string): boolean => readKeyed(join(dir, 'cgroup.events')).get('frozen') === 1;

export function freeze(dir: string, timeoutMs: number, ctid?: number): void {
  writeValue(join(dir, 'cgroup.freeze'), 1, 'freeze', ctid);
  if (waitUntil(() => isFrozen(dir), timeoutMs)) return;
  thaw(dir, ctid); // don't leave it half frozen
  throw new VzError('SYSTEM', `cannot freeze ${dir}: cgroup.events not "frozen 1" after ${timeoutMs} ms`, { ctid });
}

export function thaw(dir: string, ctid?: number): void {
  writeValue(join(dir, 'cgroup.freeze'), 0, 'thaw', ctid);
}
