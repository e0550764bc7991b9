/** vzctl stop: the template's halt signal to init, SIGKILL after the timeout, then cleanup. */
import type { Context } from '../context.js';
import { withLock } from '../lock.js';
import { VzError } from '../../base/errors.js';
import { requireContainer } from '../resolve.js';
import { probeRuntime } from '../runtime-state.js';
import { crashPoint } from '../../base/inject.js';
import { cleanupRuntime, hasLeftovers } from '../cleanup.js';
import { pidAlive, sendSignal } from '../../sys/proc.js';
import { signalNumber } from '../../config/values.js';
import { readStored } from '../stored.js';

export interface StopOptions {
  fast?: boolean;
  /** Seconds to wait after the halt signal; default: the container's stop_timeout. */
  timeout?: number;
  /** Keep the private area mounted (restart). */
  keepMounted?: boolean;
}

export async function stopContainer(ctx: Context, ctid: number, opts: StopOptions = {}): Promise<void> {
  return withLock(ctx, ctid, () => stopLocked(ctx, ctid, opts), { wants: 'stopped' });
}

export async function stopLocked(ctx: Context, ctid: number, opts: StopOptions): Promise<void> {
  requireContainer(ctx, ctid);
  const db = ctx.db();
  const probe = probeRuntime(ctx.paths(ctid));
  if (!probe.running) {
    if (hasLeftovers(ctx, ctid)) cleanupRuntime(ctx, ctid, { unmount: !opts.keepMounted });
    db.setState(ctid, 'stopped', 'found stopped');
    throw new VzError('NOT_RUNNING', 'unable to stop: container is not running', { ctid });
  }
  const { params, internal } = readStored(db, ctid);
  const timeoutS = opts.timeout ?? params.stop_timeout ?? ctx.cfg.stop_timeout;
  db.setState(ctid, 'stopping', opts.fast ? 'stop --fast' : 'stop');
  crashPoint('stop: recorded as stopping');
  ctx.progress('Stopping container ...');
  const initPid = probe.initPid!;
  const monitorPid = probe.monitorPid!;
  let gone = false;
  if (!opts.fast) {
    // By number: real-time signals (systemd halts on SIGRTMIN+3) have no name Node knows.
    sendSignal(initPid, signalNumber(internal.halt_signal ?? 'SIGTERM'));
    crashPoint('stop: halt signal sent');
    gone = await waitGone(monitorPid, timeoutS * 1000);
    if (!gone) ctx.progress(`Container did not halt within ${timeoutS} s, killing it`);
  }
  if (!gone) {
    sendSignal(initPid, 'SIGKILL');
    gone = await waitGone(monitorPid, 10_000);
  }
  if (!gone) throw new VzError('STOP_FAILED', `container init (pid ${initPid}) did not exit after SIGKILL`, { ctid });
  crashPoint('stop: init gone');
  cleanupRuntime(ctx, ctid, { unmount: !opts.keepMounted });
  crashPoint('stop: cleaned up');
  db.setState(ctid, 'stopped', opts.fast ? 'stop --fast' : 'stop');
  ctx.progress('Container was stopped');
  if (!opts.keepMounted) ctx.progress('Container is unmounted');
}

/** The monitor exits after init has ended and it has done its post-stop cleanup. */
async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let delay = 1; Date.now() < deadline; delay = Math.min(delay * 2, 20)) {
    if (!pidAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, delay));
  }
  return !pidAlive(pid);
}
