/**
 * Brings a stopped (or crashed) container's host side back to nothing: no processes, cgroups,
 * mounts or run files. Idempotent; every stop, destroy and the reconciliation of a crash use it.
 */
import fs from 'node:fs';
import type { Context } from './context.js';
import { sleepMs } from '../sys/sleep.js';
import { pidAlive } from '../sys/proc.js';
import { probeRuntime } from './runtime-state.js';
import { hasNetLeftovers, netCleanup } from './apply-net.js';

export function cleanupRuntime(ctx: Context, ctid: number, opts: { unmount: boolean }): void {
  const p = ctx.paths(ctid);
  const probe = probeRuntime(p);
  // A monitor that is still alive is finishing its own post-stop work: give it a moment.
  if (probe.monitorPid && !probe.running) {
    for (let i = 0; i < 200 && pidAlive(probe.monitorPid); i++) sleepMs(10);
  }
  const cg = ctx.cgroup(ctid);
  if (cg.exists()) cg.destroy();
  netCleanup(ctx, ctid);
  if (opts.unmount) ctx.storage(ctid).unmount(ctx.target(ctid));
  for (const f of [p.pidfile, p.socket, `${p.socket}.ctl`, p.loadavg]) fs.rmSync(f, { force: true });
  fs.rmSync(p.devnodes, { recursive: true, force: true }); // private device node copies
}

/** True when a container that is not running still has something on the host to clean. */
export function hasLeftovers(ctx: Context, ctid: number): boolean {
  const p = ctx.paths(ctid);
  return fs.existsSync(p.pidfile) || fs.existsSync(p.socket) || ctx.cgroup(ctid).exists() || hasNetLeftovers(ctx, ctid);
}
