/**
 * vzctl start --wait: returns once the container's init has finished booting. systemd is asked
 * with `systemctl is-system-running --wait` (until its bus socket exists it cannot answer: asked
 * again); a busybox init runs its inittab at once, so there is nothing to wait for.
 */
import type { Context } from '../context.js';
import { VzError } from '../../base/errors.js';
import { sleepMs } from '../../sys/sleep.js';
import { captureInContainer } from './exec.js';
import { readStored } from '../stored.js';

/** systemd's answers while it cannot tell yet. */
const NOT_YET = new Set(['', 'offline', 'unknown']);

export function waitBooted(ctx: Context, ctid: number, timeoutMs: number): string {
  if (readStored(ctx.db(), ctid).internal.init_type !== 'systemd') return 'running';
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const r = captureInContainer(ctx, ctid, ['systemctl', 'is-system-running', '--wait'], left);
    last = r.stdout.trim();
    if (!NOT_YET.has(last)) return last;
    sleepMs(50);
  }
  throw new VzError('ENVCREATE', `the container did not finish booting within ${Math.round(timeoutMs / 1000)} s (systemd: ${last || 'no answer'})`, {
    ctid,
    hint: `vzctl exec ${ctid} systemctl list-jobs shows what it waits for`,
  });
}
