import { lockFile, type Lock } from '../sys/lock.js';
import { pendingCtids, recoverPending, type Wants } from './recovery.js';
import type { Context } from './context.js';

/** How long a second operation on the same container waits before failing with exit code 9. */
export const LOCK_WAIT_MS = Number(process.env.VZKIT_LOCK_WAIT_MS ?? 10_000);

export function lockContainer(ctx: Context, ctid: number): Lock {
  ctx.db(); // makes the node's directories, the lock dir among them
  return lockFile(ctx.paths(ctid).lock, { waitMs: LOCK_WAIT_MS, ctid });
}

export interface LockOptions {
  /** What the operation will make of the container (see recovery.ts): a recovery leaves that to it. */
  wants?: Wants;
}

export async function withLock<T>(ctx: Context, ctid: number, body: () => Promise<T> | T, o: LockOptions = {}): Promise<T> {
  const lock = lockContainer(ctx, ctid);
  try {
    // An operation killed half way (vzmigrate, vzdump --mode stop) left its journal: finish it first.
    await recoverPending(ctx, ctid, { wants: o.wants });
    return await body();
  } finally {
    // A CTID with no container keeps no lock file (a typo'd `vzctl set 999`, a destroy). Removed
    // while still held; a waiter on the old file notices and retries (sys/lock.ts).
    let exists = true;
    try {
      exists = ctx.db().getContainer(ctid) !== undefined;
    } catch {}
    lock.release({ remove: !exists });
  }
}

/** vzd at start: the journals of operations killed while it was down, each under its container's lock. */
export async function recoverAllPending(ctx: Context, warn: (msg: string) => void): Promise<number[]> {
  const done: number[] = [];
  for (const ctid of pendingCtids(ctx)) {
    try {
      await withLock(ctx, ctid, () => undefined);
      done.push(ctid);
    } catch (e) {
      warn(`CT ${ctid}: recovering an interrupted operation failed: ${(e as Error).message}`);
    }
  }
  return done;
}
