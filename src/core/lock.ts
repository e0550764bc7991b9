import fs from 'node:fs';
import { lockFile, type Lock } from '../sys/lock.js';
import { journalPath, recoverInterruptedMigration } from '../../migrate/journal.js';
import type { Context } from './context.js';

/** How long a second operation on the same container waits before failing with exit code 9. */
export const LOCK_WAIT_MS = Number(process.env.VZKIT_LOCK_WAIT_MS ?? 10_000);

export function lockContainer(ctx: Context, ctid: number): Lock {
  ctx.db(); // makes the node's directories, the lock dir among them
  return lockFile(ctx.paths(ctid).lock, { waitMs: LOCK_WAIT_MS, ctid });
}

export async function withLock<T>(ctx: Context, ctid: number, body: () => Promise<T> | T): Promise<T> {
  const lock = lockContainer(ctx, ctid);
  try {
    // A vzmigrate killed half way left its record: finish the source side before anything else.
    if (fs.existsSync(journalPath(ctx, ctid))) recoverInterruptedMigration(ctx, ctid);
    return await body();
  } finally {
    lock.release();
  }
}
