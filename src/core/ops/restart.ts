/** vzctl restart: stop (if running) and start under one lock, so nothing slips in between. */
import type { Context } from '../context.js';
import { withLock } from '../lock.js';
import { probeRuntime } from '../runtime-state.js';
import { requireContainer } from '../resolve.js';
import { stopLocked, type StopOptions } from './stop.js';
import { startLocked } from './start.js';

export async function restartContainer(ctx: Context, ctid: number, opts: StopOptions = {}) {
  return withLock(ctx, ctid, async () => {
    requireContainer(ctx, ctid);
    ctx.progress('Restarting container');
    if (probeRuntime(ctx.paths(ctid)).running) await stopLocked(ctx, ctid, opts);
    return startLocked(ctx, ctid);
  }, { wants: 'running' });
}
