/** vzctl exec / enter / console: join a running container. */
import fs from 'node:fs';
import { capDropList } from '../../config/caps.js';
import { featureOn } from '../../config/features.js';
import { criuNestedKinds } from '../../criu/criu.js';
import type { Context } from '../context.js';
import { VzError } from '../../base/errors.js';
import { requireContainer } from '../resolve.js';
import { probeRuntime } from '../runtime-state.js';
import { execIn, execCapture, enterIn, attachConsole, type JoinTarget } from '../../runtime/attach.js';
import { helperPath } from '../../base/package-root.js';
import { EXIT_HELPER_FAILED } from '../../runtime/protocol.js';
import { pidAlive } from '../../sys/proc.js';
import { readStored } from '../stored.js';

function joinTarget(ctx: Context, ctid: number): JoinTarget {
  const probe = probeRuntime(ctx.paths(ctid));
  if (!probe.running) {
    requireContainer(ctx, ctid); // "does not exist" beats "not running"
    throw new VzError('NOT_RUNNING', 'container is not running', { ctid });
  }
  // The monitor creates "<socket>.ctl" when it intercepts sysinfo(2) (native/protocol.h).
  const ctl = `${ctx.paths(ctid).socket}.ctl`;
  const { params } = readStored(ctx.db(), ctid);
  return {
    helper: helperPath(),
    initPid: probe.initPid!,
    cgroupProcs: ctx.cgroup(ctid).procsFiles(probe.initPid),
    capDrop: capDropList(params.capability),
    // The container's namespace policy (native/harden.h), as its init has it.
    nesting: featureOn(params.features, 'nesting'),
    nsAllow: criuNestedKinds(ctx.cfg.paths.run),
    ...(fs.existsSync(ctl) ? { sysinfoCtl: ctl } : {}),
  };
}

/**
 * vzctl runs its exec argument through a shell, so `vzctl exec 101 "ps aux | grep x"` works.
 * One argument with shell syntax or blanks keeps that meaning; several arguments are run exactly
 * as given (like lxc-attach), so nothing gets re-split; "-" reads a script from stdin.
 */
export function commandArgv(argv: string[]): string[] {
  if (argv.length === 1 && argv[0] === '-') return ['/bin/sh', '-s'];
  if (argv.length === 1 && /[\s|&;<>()$`\\"'*?[\]#~=%{}]/.test(argv[0]!)) return ['/bin/sh', '-c', argv[0]!];
  return argv;
}

export async function execInContainer(ctx: Context, ctid: number, argv: string[]): Promise<number> {
  if (argv.length === 0) throw new VzError('NOT_ENOUGH_PARAMS', 'no command given', { ctid });
  const t = joinTarget(ctx, ctid);
  return stoppedMeanwhile(ctx, ctid, t, await execIn(t, commandArgv(argv)));
}

/** Runs argv inside and returns its output (vzkit asking the container something). */
export function captureInContainer(ctx: Context, ctid: number, argv: string[], timeoutMs?: number): { code: number; stdout: string; stderr: string } {
  return execCapture(joinTarget(ctx, ctid), argv, timeoutMs);
}

export async function enterContainer(ctx: Context, ctid: number): Promise<number> {
  const t = joinTarget(ctx, ctid);
  return stoppedMeanwhile(ctx, ctid, t, await enterIn(t));
}

/** The helper exits EXIT_HELPER_FAILED without a word when init exited before it could join. */
function stoppedMeanwhile(ctx: Context, ctid: number, t: JoinTarget, code: number): number {
  if (code === EXIT_HELPER_FAILED && !pidAlive(t.initPid)) { // reaped, or a zombie not yet reaped
    throw new VzError('NOT_RUNNING', 'container stopped before the command could start', { ctid });
  }
  return code;
}

export function consoleContainer(ctx: Context, ctid: number): Promise<number> {
  joinTarget(ctx, ctid);
  return attachConsole(helperPath(), ctx.paths(ctid).socket);
}
