/**
 * When the source does not know what DEST did. After the restore (or start) request has gone to
 * DEST, a lost answer (the SSH connection cut, vzmigrate killed) leaves two possibilities: DEST
 * runs the container, or it does not. Guessing either way is wrong once: thawing here while DEST
 * runs it makes two copies; killing it here while DEST does not loses it. So the source asks DEST
 * again, over a new connection, until it gets an answer or gives up; DEST answers under the
 * container's lock, so a restore still in progress there is waited for. Until the answer, the
 * copy here stays stopped (frozen), and the journal keeps the question for the next command.
 */
import path from 'node:path';
import { packageRoot } from '../src/base/package-root.js';
import { sleepMs } from '../src/sys/sleep.js';
import { sshOnce } from './ssh.js';
import { parseAnswer, receiveArgv, type Answer, type Reply, type Request, type Verb } from './protocol.js';

/** The remote vzmigrate: $VZKIT_REMOTE_VZMIGRATE, else the same install path as this one. */
export function remoteCommand(): string {
  return process.env.VZKIT_REMOTE_VZMIGRATE ?? path.join(packageRoot(), 'dist', 'vzmigrate');
}

/** How long the source keeps asking (VZKIT_MIGRATE_ASK_SECS; default 60 s). */
export function askWindowMs(): number {
  return Number(process.env.VZKIT_MIGRATE_ASK_SECS ?? 60) * 1000;
}

export class DestUnreachable extends Error {}

export interface DestTarget {
  dest: string;
  sshOpts: string[];
  ctid: number;
  /** The remote vzmigrate (the journal keeps the one the migration used). */
  remote?: string;
}

/** The exit code of a VzError LOCKED on DEST: the lock is busy, ask again. */
const LOCKED_EXIT = 9;

/**
 * How long one attempt may run once it reached DEST: as long as its command needs (an abort
 * removes a whole private area: seconds for a stock Debian on a loaded disk). The window bounds
 * the asking, not the command: a killed ssh does not stop the command there, which would go on
 * unseen (an abort then deletes the record and dump dir of the next vzmigrate's register). A dead
 * link fails at ssh's ConnectTimeout and ServerAlive checks (sshOnce), an unreachable DEST at once.
 */
const ATTEMPT_MS = 600_000;

/**
 * Runs `vzmigrate --receive VERB CTID` on DEST until it answers (ok or a definite refusal), for
 * up to windowMs. Throws DestUnreachable when no answer came.
 */
export function askDest<V extends Verb>(t: DestTarget, verb: V, req: Request<V>, windowMs = askWindowMs()): Answer<V> {
  const t0 = Date.now();
  let last = '';
  for (let attempt = 0; ; attempt++) {
    const r = sshOnce(t.dest, t.sshOpts, receiveArgv(t.remote ?? remoteCommand(), verb, t.ctid), JSON.stringify(req), Math.max(ATTEMPT_MS, windowMs));
    const reply = parseAnswer<V>(r.stdout);
    if (reply && (reply.ok || reply.exit !== LOCKED_EXIT)) return reply;
    last = reply ? String(reply.error) : (r.stderr || r.stdout).trim().split('\n').pop() || `ssh exited ${r.code}`;
    if (Date.now() - t0 > windowMs) throw new DestUnreachable(`no answer from ${t.dest} for ${Math.round((Date.now() - t0) / 1000)} s (${last})`);
    sleepMs(Math.min(2000, 250 * (attempt + 1)));
  }
}

export interface DestState {
  running: boolean;
  /** DEST's proof that it runs it (proof.ts), when it does. */
  proof?: Reply<'resolve'>['proof'];
  exists: boolean;
}

/** Does DEST run the container now (its answer, under its lock)? */
export function destState(t: DestTarget, windowMs?: number): DestState {
  const r = askDest(t, 'resolve', {}, windowMs);
  if (!r.ok) throw new DestUnreachable(`DEST: resolve: ${r.error}`);
  return { running: Boolean(r.running), proof: r.proof, exists: Boolean(r.exists) };
}

/** Takes back what the migration made on DEST (stopping a copy it runs). */
export function dropOnDest(t: DestTarget, keepPrivate: boolean, windowMs?: number): void {
  const r = askDest(t, 'abort', { keepPrivate }, windowMs);
  if (!r.ok) throw new DestUnreachable(`DEST: abort: ${r.error}`);
}

/** The source's check of DEST's proof: a live init in DEST's own cgroup, tasks counted there. */
export function proofProblem(proof: Reply<'resolve'>['proof']): string | undefined {
  if (!proof) return 'DEST gave no proof that it runs the container';
  if (!(Number(proof.initPid) > 0)) return 'DEST named no running init';
  if (proof.ok !== true) return `DEST does not run it as it should: ${String(proof.why ?? 'no reason given')}`;
  if (!(Number(proof.tasks) > 0)) return 'DEST counted no live task';
  return undefined;
}
