/** v1 freezer: freezer.state goes THAWED -> FREEZING -> FROZEN; only FROZEN means every task stopped. */
import { join } from 'node:path';
import { readText, waitUntil, writeValue } from '../cgfs.js';
import { VzError } from '../../base/errors.js';

const state = (dir: string): string => (readText(join(dir, 'freezer.state')) ?? '').trim();

export function freeze(dir: string, timeoutMs: number, ctid?: number): void {
  const file = join(dir, 'freezer.state');
  // Re-writing FROZEN makes the kernel retry tasks that were busy (e.g. in a vfork) last time.
  const done = waitUntil(() => {
    writeValue(file, 'FROZEN', 'freeze', ctid);
    return state(dir) === 'FROZEN';
  }, timeoutMs);
  if (done) return;
  const stuck = state(dir);
  thaw(dir, ctid); // don't leave it half frozen
  throw new VzError('SYSTEM', `cannot freeze ${dir}: freezer.state still ${stuck || 'empty'} after ${timeoutMs} ms`, { ctid });
}

export function thaw(dir: string, ctid?: number): void {
  writeValue(join(dir, 'freezer.state'), 'THAWED', 'thaw', ctid);
}
