/** vzctl exec / enter / console: join a running container. */
import type { Context } from '../context.js';
import { VzError } from '../errors.js';
import { requireContainer } from '../resolve.js';
import { probeRuntime } from '../runtime-state.js';
import { execIn, enterIn, attachConsole, type JoinTarget } from '../../runtime/attach.js';
import { helperPath } from '../install.js';

function joinTarget(ctx: Context, ctid: number): JoinTarget {
  const probe = probeRuntime(ctx.paths(ctid));
  if (!probe.running) {
    requireContainer(ctx, ctid); // "does not exist" beats "not running"
    throw new VzError('NOT_RUNNING', 'container is not running', { ctid });
  }
  return { helper: helperPath(), initPid: probe.initPid!, cgroupProcs: ctx.cgroup(ctid).procsFiles() };
}

export function execInContainer(ctx: Context, ctid: number, argv: string[]): Promise<number> {
  if (argv.length === 0) throw new VzError('NOT_ENOUGH_PARAMS', 'no command given', { ctid });
  return execIn(joinTarget(ctx, ctid), argv);
}

export function enterContainer(ctx: Context, ctid: number): Promise<number> {
  return enterIn(joinTarget(ctx, ctid));
}

export function consoleContainer(ctx: Context, ctid: number): Promise<number> {
  joinTarget(ctx, ctid);
  return attachConsole(helperPath(), ctx.paths(ctid).socket);
}
