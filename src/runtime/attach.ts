/**
 * exec / enter / console: run the helper with the caller's stdio and return its exit status.
 * Node stays out of the data path; it only forwards termination signals and waits. The helper
 * keeps the caller's descriptors to itself: the command inside gets a pty of the container or
 * pipes that the helper relays (native/relay.c), never a host fd or the host terminal.
 */
import os from 'node:os';
import { childProcess } from '../sys/childproc.js';
import { EXIT_HELPER_FAILED, EXIT_TIMED_OUT } from './protocol.js';

export interface JoinTarget {
  helper: string;
  initPid: number;
  cgroupProcs: string[];
  /** The monitor's "<socket>.ctl" (sysinfo(2) interception for what exec/enter start), when it exists. */
  sysinfoCtl?: string;
  /** Capability numbers to drop from the bounding set, as init has it. */
  capDrop?: number[];
  /** The container allows namespaces CRIU cannot dump (feature nesting; native/harden.h). */
  nesting?: boolean;
  /** Kinds allowed anyway: this node's CRIU dumps them nested (src/criu/criu.ts criuNestedKinds). */
  nsAllow?: string[];
}

function run(helper: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = childProcess().spawn(helper, args, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    // The terminal sends SIGINT/SIGQUIT to the whole foreground group (the helper included):
    // ignore them here so vzctl reports the command's own status.
    const handlers: Array<[NodeJS.Signals, () => void]> = [
      ['SIGINT', () => {}],
      ['SIGQUIT', () => {}],
      ['SIGTERM', forward('SIGTERM')],
      ['SIGHUP', forward('SIGHUP')],
    ];
    for (const [s, h] of handlers) process.on(s, h);
    const done = (code: number) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(code);
    };
    child.on('error', (e) => {
      process.stderr.write(`vzctl: cannot run ${helper}: ${e.message}\n`);
      done(EXIT_HELPER_FAILED);
    });
    child.on('exit', (code, signal) => done(code ?? 128 + (signal ? signalNumber(signal) : 0)));
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  return (os.constants.signals as Record<string, number>)[sig] ?? 0;
}

function joinArgs(t: JoinTarget, env: string[] = []): string[] {
  const a = ['--pid', String(t.initPid)];
  for (const f of t.cgroupProcs) a.push('--cgroup', f);
  for (const e of env) a.push('--env', e);
  if (t.sysinfoCtl) a.push('--sysinfo-ctl', t.sysinfoCtl);
  for (const c of t.capDrop ?? []) a.push('--cap-drop', String(c));
  if (t.nesting) a.push('--nesting');
  for (const k of t.nsAllow ?? []) a.push('--ns-allow', k);
  return a;
}

export function execIn(t: JoinTarget, argv: string[], env: string[] = []): Promise<number> {
  return run(t.helper, ['exec', ...joinArgs(t, env), '--', ...argv]);
}

/** What vzkit keeps of a command's output: enough for an answer, not a tenant's flood. */
const CAPTURE_MAX = 1 << 20;
/** How long the helper gets beyond a command's timeout to kill it and report. */
const KILL_GRACE_MS = 2_000;

/**
 * execIn for vzkit's own questions to the container: stdin /dev/null (the helper's stdin pipe
 * reads EOF), a session of its own, captured output only, and a timeout after which the helper
 * kills the command's process group (code EXIT_TIMED_OUT); should the helper itself hang,
 * SIGKILL follows a little later. Never run one under a container's lock unless its timeout
 * is well below the lock wait (core/lock.ts LOCK_WAIT_MS).
 */
export function execCapture(t: JoinTarget, argv: string[], timeoutMs = 60_000): { code: number; stdout: string; stderr: string } {
  const ms = Math.max(1, Math.round(timeoutMs));
  const r = childProcess().spawnSync(t.helper, ['exec', ...joinArgs(t), '--timeout', String(ms), '--', ...argv], {
    encoding: 'utf8',
    timeout: ms + KILL_GRACE_MS,
    killSignal: 'SIGKILL',
    maxBuffer: CAPTURE_MAX,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const code = r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? EXIT_TIMED_OUT : (r.status ?? EXIT_HELPER_FAILED);
  return { code, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/**
 * sethostname(2) in the container's UTS namespace, done by the helper itself: no program of
 * the container runs (a trojaned hostname(1) would get vzkit's lock and descriptors).
 */
export function setHostnameIn(helper: string, initPid: number, name: string, timeoutMs: number): { code: number; stderr: string } {
  const r = childProcess().spawnSync(helper, ['sethostname', '--pid', String(initPid), name], {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return { code: r.status ?? EXIT_HELPER_FAILED, stderr: r.stderr ?? '' };
}

export function enterIn(t: JoinTarget, env: string[] = []): Promise<number> {
  return run(t.helper, ['enter', ...joinArgs(t, env)]);
}

export function attachConsole(helper: string, socket: string): Promise<number> {
  return run(helper, ['console', socket]);
}
