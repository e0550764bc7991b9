/**
 * One migration's state, shared by its stages (one file each in this folder): what was found
 * here before it began, what DEST answered, and what the stages did so far (for their undo).
 * Also the requests to DEST (protocol.ts) and the rules for a lost answer: once the restore or
 * start request went out, DEST may run the container, so nothing here is started or thawed
 * again until DEST says it does not (resolve.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Context } from '../../src/core/context.js';
import type { ContainerRow } from '../../src/state/db.js';
import { requireContainer } from '../../src/core/resolve.js';
import { probeRuntime, type RuntimeProbe } from '../../src/core/runtime-state.js';
import { removeViewDir } from '../../src/sys/idmapmount.js';
import { Ssh } from '../ssh.js';
import { updateJournal } from '../journal.js';
import type { StageTiming } from '../stages.js';
import { MigExit, MigrateError, StageFailure } from '../errors.js';
import { criuPath, criuRestoresListeners, interceptsSysinfo } from '../../src/criu/criu.js';
import { destState, dropOnDest, proofProblem, remoteCommand, type DestTarget } from '../resolve.js';
import { expectAnswer, receiveArgv, type Inject, type Reply, type Request, type Verb } from '../protocol.js';
import type { MigrateOptions } from '../migrate.js';

/** The restore's session on DEST, opened before the freeze (page-server.ts). */
export interface RestoreSession {
  child: ChildProcess;
  out: Promise<{ code: number; stdout: string; stderr: string }>;
}

export class Migration {
  readonly ctid: number;
  readonly row: ContainerRow;
  readonly params: Record<string, unknown>;
  readonly paths: ReturnType<Context['paths']>;
  readonly probe: RuntimeProbe;
  readonly wasRunning: boolean;
  readonly online: boolean;
  /** Restart mode (a running container, not live): it keeps running through the first copy. */
  readonly restart: boolean;
  readonly notes: string[] = [];
  readonly t: ReturnType<Context['target']>;
  readonly isDir: boolean;
  readonly storage: ReturnType<Context['storage']>;
  /**
   * Online, a file system image goes tree to tree (receive-image.ts): DEST mounts an empty image
   * of the same shape and the copies run from this mount to that one, so the copy while frozen
   * moves what changed, not the whole image file. Offline, the image file itself is copied.
   */
  readonly tree: { sizeBytes: number; inodes: number } | undefined;
  readonly ssh: Ssh;
  readonly inject: Inject;
  readonly target: DestTarget;
  readonly criu: string;
  readonly localDump: string;
  /** Where idmapped views of the private area are made (map-uids.ts). */
  readonly viewPrefix: string;
  /** What is copied: an image's mounted tree (tree mode) or the private area; a view maps either. */
  readonly copyFrom: string;

  // What DEST answered.
  destMount = '';
  destPrivate = '';
  destDump = '';
  destBase: number;
  /** The files can go into any uid range DEST gives (decided in preflight). */
  anySlot = false;

  // What the stages did (for their undo and the result).
  registered = false;
  viewDir = '';
  /** When the first copy began (s, less a margin): the final sync sends what changed since. */
  copyFrom0 = 0;
  /**
   * After the restore or start request went to DEST: whether DEST took the container back again
   * (destCleared), or could not be asked at all (inDoubt: then nothing here is restarted or
   * thawed, so it never runs twice; the journal keeps the question for the next command).
   */
  requestSent = false;
  destCleared = false;
  inDoubt = false;
  stopAt = 0;
  downtimeMs: number | undefined;
  frozenAt = 0;
  frozenMs: number | undefined;
  readonly frozenSteps: StageTiming[] = [];
  dumped = false;
  localPort = 0;
  pending: RestoreSession | undefined;

  constructor(
    readonly ctx: Context,
    readonly o: MigrateOptions,
  ) {
    const { ctid } = o;
    this.ctid = ctid;
    this.row = (() => {
      try {
        return requireContainer(ctx, ctid);
      } catch (e) {
        throw new MigrateError('preflight', MigExit.NOEXIST, (e as Error).message, e);
      }
    })();
    this.params = ctx.db().getParams(ctid);
    this.paths = ctx.paths(ctid);
    this.probe = probeRuntime(this.paths);
    this.wasRunning = this.probe.running;
    this.online = o.online && this.wasRunning;
    this.restart = !this.online && this.wasRunning;
    if (o.online && !this.wasRunning) this.notes.push('the container is not running: migrating offline');
    this.t = ctx.target(ctid);
    this.isDir = fs.statSync(this.t.privatePath).isDirectory();
    this.storage = ctx.storage(ctid);
    this.tree = this.online && this.storage.geometry ? this.storage.geometry(this.t) : undefined;
    this.ssh = new Ssh(o.dest, o.sshOpts);
    this.inject = { ...(o.injectRestoreFail ? { inject_restore_fail: true } : {}), ...(o.injectStartFail ? { inject_start_fail: true } : {}) };
    this.target = { dest: o.dest, sshOpts: o.sshOpts, ctid, remote: remoteCommand() };
    this.destBase = this.row.uidBase;
    this.criu = this.online ? criuPath() : '';
    this.localDump = fs.mkdtempSync(path.join(os.tmpdir(), `vzmigrate-${ctid}-`));
    this.viewPrefix = path.join(os.tmpdir(), `vzmigrate-view-${ctid}-`);
    this.copyFrom = this.tree ? this.t.mountPath : this.t.privatePath;
  }

  initPid(): number {
    return this.probe.initPid!;
  }

  /** sysinfo(2) interception blocks a checkpoint only when this CRIU cannot give its listener back. */
  sysinfoBlocks(): boolean {
    return interceptsSysinfo(this.paths.socket) && !criuRestoresListeners(criuPath());
  }

  /** One request to DEST over the master connection (with the tests' fault switches). */
  remote<V extends Verb>(verb: V, req: Request<V>, exitOnFail: number): Reply<V> {
    const r = this.ssh.run(receiveArgv(remoteCommand(), verb, this.ctid), JSON.stringify({ ...req, ...this.inject }));
    return expectAnswer(verb, r, exitOnFail);
  }

  /** The restore or start request went out: from here on DEST may run it (the journal says so too). */
  sent(): void {
    this.requestSent = true;
    updateJournal(this.ctx, this.ctid, { requestSent: true });
  }

  /** In doubt: nothing here runs it again; the journal keeps the question. */
  private doubt(): void {
    this.inDoubt = true;
    updateJournal(this.ctx, this.ctid, { inDoubt: true });
  }

  /** The undo of the restore or start: DEST's copy goes, before anything here runs it again. */
  undoOnDest(): void {
    if (!this.requestSent || this.destCleared || this.inDoubt) return;
    try {
      dropOnDest(this.target, this.o.keepDst);
      this.destCleared = true;
    } catch (e) {
      this.doubt();
      this.ctx.warn(`CT ${this.ctid}: could not make sure that ${this.o.dest} does not run it (${(e as Error).message}): it stays stopped here; the next vzctl command on it asks ${this.o.dest} again`);
    }
  }

  /** DEST's answer was lost: ask it again. Returns a reply with DEST's proof when it runs it; else the stage fails. */
  destRunsIt(what: 'restore' | 'start'): Reply<'restore'> & Reply<'start'> {
    const exit = what === 'restore' ? MigExit.RESTORE : MigExit.START_VPS;
    let st;
    try {
      st = destState(this.target);
    } catch (e) {
      this.doubt();
      throw new StageFailure(exit, `no answer to the ${what} request, and ${this.o.dest} could not be asked whether it runs the container (${(e as Error).message}): it stays stopped here so that it never runs twice; the next vzctl command on it asks again`);
    }
    if (!st.running) {
      this.destCleared = !st.exists;
      throw new StageFailure(exit, `no answer to the ${what} request; ${this.o.dest} does not run the container`);
    }
    this.notes.push(`the answer to the ${what} request was lost; ${this.o.dest} was asked again: it runs the container`);
    return { proof: st.proof, initPid: st.proof?.initPid };
  }

  /** A reply that proves DEST runs it, else DEST's copy goes (undo) and the stage fails. */
  requireProof(reply: { proof?: Reply<'resolve'>['proof'] }, exit: number): void {
    const problem = proofProblem(reply.proof);
    if (problem) throw new StageFailure(exit, problem);
    const pr = reply.proof!;
    this.notes.push(`DEST runs it: init pid ${String(pr.initPid)} with ${String(pr.tasks)} tasks in its own cgroup`);
  }

  /** The undo of register: everything on DEST goes (unless --keep-dst keeps the private area). */
  abortDest(): void {
    if (!this.registered) return;
    // Over a connection of its own, asked again for a while: the master may be what broke.
    dropOnDest(this.target, this.o.keepDst, 30_000);
  }

  /** Inside the frozen window: a step ended now (vzmigrate -t). */
  step(name: string): void {
    this.frozenSteps.push({ name, ms: performance.now() - this.frozenAt });
  }

  /** Removes the idmapped view (map-uids.ts), if one is mounted. */
  unview(): void {
    if (!this.viewDir) return;
    removeViewDir(this.viewDir);
    this.viewDir = '';
  }
}
