/**
 * vzmigrate: moves a container to DEST over SSH, offline (stop, copy, start there) or online
 * (copy while running, freeze and dump with the pages streamed to a CRIU page server on DEST,
 * copy the rest of the dump and what changed, restore there). Every step is a stage
 * {name, run, undo} (stages.ts); a failure undoes in reverse order, so the container keeps (or
 * goes back to) running here with its data and addresses, and DEST keeps nothing.
 *
 * Pre-dumps (p.haul's iterative rounds) need memory tracking (soft-dirty), which these kernels
 * lack: when `criu check --feature mem_dirty_track` fails, they are skipped (said in the log).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Context } from '../src/core/context.js';
import { withLock } from '../src/core/lock.js';
import { VzError } from '../src/base/errors.js';
import { requireContainer } from '../src/core/resolve.js';
import { probeRuntime } from '../src/core/runtime-state.js';
import { cleanupRuntime } from '../src/core/cleanup.js';
import { currentAddresses } from '../src/core/apply-net.js';
import { stopLocked } from '../src/core/ops/stop.js';
import { startLocked } from '../src/core/ops/start.js';
import { destroyLocked } from '../src/core/ops/destroy.js';
import { checkCheckpointable as checkSettings, prepareDump } from '../src/core/ops/suspend.js';
import { helperPath } from '../src/base/package-root.js';
import { pidAlive } from '../src/sys/proc.js';
import { sleepMs } from '../src/sys/sleep.js';
import { mountViewIn, removeViewDir, shiftMap } from '../src/sys/idmapmount.js';
import { Ssh } from './ssh.js';
import { CTIME_MARGIN_S, changedSince } from './changed.js';
import { removeJournal, updateJournal, writeJournal } from './journal.js';
import { runStages, type Stage, type StageTiming } from './stages.js';
import { MigExit, MigrateError, StageFailure } from './errors.js';
import { criuPath, criuRestoresListeners, dumpMadeRemaps, hasDirtyTracking, interceptsSysinfo, nestedKindsInUse, pressureFilesInUse, readImages, runDumpAsync, thawAfterDump, writeMeta } from '../src/criu/criu.js';
import { blockersFromLog, certainBlockers, checkCheckpointable, formatBlocker, type Blocker } from '../src/criu/precheck.js';
import { DestUnreachable, destState, dropOnDest, proofProblem, remoteCommand, type DestTarget } from './resolve.js';

export interface MigrateOptions {
  dest: string;
  ctid: number;
  online: boolean;
  /**
   * Restart mode (--restart; OpenVZ's vzmigrate without --live does the same for a running
   * container): copy while it runs, stop, sync the rest, start on DEST.
   */
  restart?: boolean;
  /** -r no: keep the (stopped) container here afterwards. */
  removeSource: boolean;
  keepDst: boolean;
  sshOpts: string[];
  dryRun: boolean;
  /** Fault injection for the tests: the restore on DEST fails in its network step. */
  injectRestoreFail?: boolean;
  /** Fault injection for the tests: the start on DEST fails (restart mode, offline). */
  injectStartFail?: boolean;
  /** Called when a stage begins (tests cut the connection at a given stage). */
  onStage?: (name: string) => void;
}

export interface MigrateResult {
  timings: StageTiming[];
  frozenMs?: number;
  /** Inside the frozen window: when each step ended, in ms from the freeze (vzmigrate -t). */
  frozenSteps?: StageTiming[];
  /** Restart mode: from the stop here to running on DEST. */
  downtimeMs?: number;
  online: boolean;
  notes: string[];
}

/** No reply from DEST at all (as opposed to its refusal): what it did is unknown. */
class NoAnswer extends StageFailure {}

/** A pre-flight that found what stops the checkpoint: one line per blocker in the message. */
export class NotCheckpointable extends StageFailure {
  constructor(readonly blockers: Blocker[]) {
    super(MigExit.CHECKPOINT, `the container cannot be checkpointed now (vzmigrate --restart moves it with a restart):\n${blockers.map(formatBlocker).join('\n')}`);
  }
}

/** A CRIU log of our own dump directory, capped (it is read for its error lines only). */
function readSmall(file: string): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(4 << 20);
      return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Bytes of the private area (du), for DEST's disk check. */
function usedBytes(p: string): number {
  const r = spawnSync('du', ['-sb', p], { encoding: 'utf8' });
  return Number((r.stdout ?? '0').split('\t')[0]) || 0;
}

export async function migrate(ctx: Context, o: MigrateOptions): Promise<MigrateResult> {
  return withLock(ctx, o.ctid, () => migrateLocked(ctx, o));
}

async function migrateLocked(ctx: Context, o: MigrateOptions): Promise<MigrateResult> {
  const { ctid } = o;
  const row = (() => {
    try {
      return requireContainer(ctx, ctid);
    } catch (e) {
      throw new MigrateError('preflight', MigExit.NOEXIST, (e as Error).message, e);
    }
  })();
  const db = ctx.db();
  const params = db.getParams(ctid);
  const p = ctx.paths(ctid);
  const probe = probeRuntime(p);
  const wasRunning = probe.running;
  const online = o.online && wasRunning;
  const notes: string[] = [];
  if (o.online && !wasRunning) notes.push('the container is not running: migrating offline');
  const initPidOf = () => probe.initPid!;
  // sysinfo(2) interception blocks a checkpoint only when this CRIU cannot give its listener back.
  const sysinfoBlocks = () => interceptsSysinfo(p.socket) && !criuRestoresListeners(criuPath());
  const t = ctx.target(ctid);
  const isDir = fs.statSync(t.privatePath).isDirectory();
  // Online, a file system image goes tree to tree (receive-image.ts): DEST mounts an empty image
  // of the same shape and the copies run from this mount to that one, so the copy while frozen
  // moves what changed, not the whole image file. Offline, the image file itself is copied.
  const storage = ctx.storage(ctid);
  const tree = online && storage.geometry ? storage.geometry(t) : undefined;
  let destMount = '';
  const ssh = new Ssh(o.dest, o.sshOpts);
  const inject = { ...(o.injectRestoreFail ? { inject_restore_fail: true } : {}), ...(o.injectStartFail ? { inject_start_fail: true } : {}) };
  const remote = (verb: string, req: Record<string, unknown>, exitOnFail: number): Record<string, unknown> => {
    const r = ssh.run([remoteCommand(), '--receive', verb, String(ctid)], JSON.stringify({ ...req, ...inject }));
    let reply: Record<string, unknown> | undefined;
    try {
      reply = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    } catch {
      reply = undefined;
    }
    if (!reply) throw new NoAnswer(exitOnFail, `DEST: ${verb}: ${(r.stderr || r.stdout).trim() || `ssh exited ${r.code}`}`);
    if (!reply.ok) throw new StageFailure((reply.exit as number | undefined) ?? exitOnFail, `DEST: ${reply.error as string}`);
    return reply;
  };
  const target: DestTarget = { dest: o.dest, sshOpts: o.sshOpts, ctid, remote: remoteCommand() };
  // After the restore or start request went to DEST: whether DEST took the container back again
  // (destCleared), or could not be asked at all (inDoubt: then nothing here is restarted or
  // thawed, so it never runs twice; the journal keeps the question for the next command).
  let requestSent = false;
  let destCleared = false;
  let inDoubt = false;
  const undoOnDest = () => {
    if (!requestSent || destCleared || inDoubt) return;
    try {
      dropOnDest(target, o.keepDst);
      destCleared = true;
    } catch (e) {
      inDoubt = true;
      updateJournal(ctx, ctid, { inDoubt: true });
      ctx.warn(`CT ${ctid}: could not make sure that ${o.dest} does not run it (${(e as Error).message}): it stays stopped here; the next vzctl command on it asks ${o.dest} again`);
    }
  };
  /** DEST's answer was lost: ask it again. Returns a reply with DEST's proof when it runs it; else the stage fails. */
  const destRunsIt = (what: string): Record<string, unknown> => {
    let st;
    try {
      st = destState(target);
    } catch (e) {
      inDoubt = true;
      updateJournal(ctx, ctid, { inDoubt: true });
      throw new StageFailure(what === 'restore' ? MigExit.RESTORE : MigExit.START_VPS, `no answer to the ${what} request, and ${o.dest} could not be asked whether it runs the container (${(e as Error).message}): it stays stopped here so that it never runs twice; the next vzctl command on it asks again`);
    }
    if (!st.running) {
      destCleared = !st.exists;
      throw new StageFailure(what === 'restore' ? MigExit.RESTORE : MigExit.START_VPS, `no answer to the ${what} request; ${o.dest} does not run the container`);
    }
    notes.push(`the answer to the ${what} request was lost; ${o.dest} was asked again: it runs the container`);
    return { ok: true, proof: st.proof, initPid: st.proof?.initPid };
  };
  /** A reply that proves DEST runs it, else DEST's copy goes (undo) and the stage fails. */
  const requireProof = (reply: Record<string, unknown>, exit: number) => {
    const problem = proofProblem(reply.proof as Record<string, unknown> | undefined);
    if (problem) throw new StageFailure(exit, problem);
    const pr = reply.proof as Record<string, unknown>;
    notes.push(`DEST runs it: init pid ${String(pr.initPid)} with ${String(pr.tasks)} tasks in its own cgroup`);
  };
  let destPrivate = '';
  let destDump = '';
  let destBase = row.uidBase;
  let registered = false;
  let frozenAt = 0;
  let frozenMs: number | undefined;
  const frozenSteps: StageTiming[] = [];
  const step = (name: string): void => void frozenSteps.push({ name, ms: performance.now() - frozenAt });
  const criu = online ? criuPath() : '';
  const localDump = fs.mkdtempSync(path.join(os.tmpdir(), `vzmigrate-${ctid}-`));
  // VZKIT_RSYNC_BWLIMIT (KiB/s): a tuning knob, and how the tests make a copy last long enough to cut.
  const bwLimit = () => (process.env.VZKIT_RSYNC_BWLIMIT ? [`--bwlimit=${process.env.VZKIT_RSYNC_BWLIMIT}`] : []);
  // A tree copy stays on the image's file system: what the host mounted below VE_ROOT is not the container's.
  const oneFs = tree ? ['--one-file-system'] : [];
  const rsync = (src: string, dst: string, what: string, extra: string[] = ['--delete'], okStatus: number[] = [0]) => {
    const r = spawnSync('rsync', ['-aHAX', '--numeric-ids', '--sparse', ...oneFs, ...bwLimit(), ...extra, '-e', ssh.rsyncShell(), src, `${o.dest}:${dst}`], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (!okStatus.includes(r.status ?? -1)) throw new StageFailure(MigExit.COPY, `rsync of ${what}: ${(r.stderr ?? '').trim().split('\n').slice(-2).join('; ') || `exit ${r.status}`}`);
  };
  const rsyncAsync = (src: string, dst: string, what: string, extra: string[], input?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const c = spawn('rsync', ['-aHAX', '--numeric-ids', '--sparse', ...oneFs, ...extra, '-e', ssh.rsyncShell(), src, `${o.dest}:${dst}`], { stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
      if (input) {
        c.stdin!.on('error', () => {}); // a dead rsync shows in its exit code
        c.stdin!.end(input);
      }
      let err = '';
      c.stderr!.on('data', (d) => (err += d));
      c.on('close', (code) => (code === 0 ? resolve() : reject(new StageFailure(MigExit.COPY, `rsync of ${what}: ${err.trim().split('\n').slice(-2).join('; ') || `exit ${code}`}`))));
    });
  // Online into another uid range: rsync reads through an idmapped view that shows the files in
  // DEST's range (idmapmount.ts), so they arrive there owned right, and the final sync while
  // frozen still sends only what changed. (Offline, DEST shifts them after the copy.)
  let viewDir = '';
  const viewPrefix = path.join(os.tmpdir(), `vzmigrate-view-${ctid}-`);
  const unview = () => {
    if (!viewDir) return;
    removeViewDir(viewDir);
    viewDir = '';
  };
  // What is copied: an image's mounted tree (tree mode) or the private area; the view maps either.
  const copyFrom = tree ? t.mountPath : t.privatePath;
  const src = () => (viewDir ? `${viewDir}/root/` : tree ? `${t.mountPath}/` : isDir ? `${t.privatePath}/` : t.privatePath);
  // Can this node make such a view of this private area (kernel, file system)? Tried once.
  const viewWorks = (): boolean => {
    const probe = fs.mkdtempSync(viewPrefix);
    updateJournal(ctx, ctid, { tmp: [localDump, ssh.dir, probe] });
    try {
      mountViewIn(probe, copyFrom, shiftMap(row.uidBase, row.uidBase, row.uidSize));
      return true;
    } catch (e) {
      notes.push(`no idmapped view of the private area here (${(e as Error).message}): DEST must have the same uid range free`);
      return false;
    } finally {
      removeViewDir(probe);
      updateJournal(ctx, ctid, { tmp: [localDump, ssh.dir] });
    }
  };
  let anySlot = false;
  const dstOf = () => (tree ? `${destMount}/` : isDir ? `${destPrivate}/` : destPrivate);
  const abortDest = () => {
    if (!registered) return;
    // Over a connection of its own, asked again for a while: the master may be what broke.
    dropOnDest(target, o.keepDst, 30_000);
  };

  const stages: Stage[] = [
    {
      name: 'preflight',
      run: async () => {
        let cpuinfo: string | undefined;
        let nested: string[] = [];
        let psi = false;
        // Settings that rule a checkpoint out (the sysinfo listener without vzkit's CRIU, nesting),
        // then what no CRIU gets past, named task by task, before anything is copied or frozen (the
        // rest is CRIU's to decide: the dry run's trial dump, or the dump itself).
        if (online) {
          try {
            checkSettings(ctx, ctid);
          } catch (e) {
            const v = e as VzError;
            throw new StageFailure(MigExit.CHECKPOINT, `${v.message}${v.hint ? ` (${v.hint}; or migrate offline)` : ''}`);
          }
          const blockers = certainBlockers(initPidOf(), ctx.cgroup(ctid).pids(), sysinfoBlocks());
          if (blockers.length) throw new NotCheckpointable(blockers);
        }
        await ssh.connect();
        updateJournal(ctx, ctid, { sshPid: ssh.masterPid() });
        if (online) {
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzmigrate-cpu-'));
          try {
            const r = spawnSync(criu, ['cpuinfo', 'dump', '-D', dir], { encoding: 'utf8' });
            if (r.status !== 0) throw new StageFailure(MigExit.UNSUP_CPU, `criu cpuinfo dump: ${r.stderr.trim()}`);
            cpuinfo = fs.readFileSync(path.join(dir, 'cpuinfo.img')).toString('base64');
          } finally {
            fs.rmSync(dir, { recursive: true, force: true });
          }
          // Asked of DEST before anything is frozen: its CRIU must restore these too.
          if (probe.initPid) nested = nestedKindsInUse(probe.initPid, ctx.cgroup(ctid).pids());
          psi = pressureFilesInUse(ctx.cgroup(ctid).pids());
          if (hasDirtyTracking(criu)) notes.push('memory tracking is available, but iterative pre-dumps are not implemented: one final dump');
          else notes.push('no memory tracking (soft-dirty) on this kernel: pre-dumps skipped, one final dump');
          if (tree) notes.push('image layout: its files are copied into an image of the same size made on DEST, so the final sync moves only what changed');
        }
        anySlot = online ? (ctx.storage(ctid).caps.tree === true || !!tree) && viewWorks() : true;
        const info = remote(
          'info',
          { ctid, ips: currentAddresses(ctx, ctid, wasRunning, params), bytes: usedBytes(t.privatePath), uidBase: row.uidBase, uidSize: row.uidSize, online, params, cpuinfo, reuse: o.keepDst, isDir, anySlot, nested, psi, sysinfo: online && interceptsSysinfo(p.socket) },
          MigExit.CANT_CONNECT,
        );
        const problems = info.problems as Array<{ exit: number; msg: string }>;
        if (problems.length) throw new StageFailure(problems[0]!.exit, problems.map((x) => x.msg).join('; '));
        if (online && info.criu === null) throw new StageFailure(MigExit.RESTORE, 'no CRIU on DEST');
        destPrivate = info.privatePath as string;
        destDump = info.dumpDir as string;
        // An older DEST cannot move a dump's user namespace, nor shift inside an image.
        if (info.rebase !== true) anySlot = false;
        notes.push(`DEST ${info.node as string}: vzkit ${info.version as string}${online ? `, criu ${info.criu as string}` : ''}`);
        if (online && o.dryRun) {
          // The dry run asks CRIU itself (a dump that leaves it running, into tmpfs, thrown away).
          const c = checkCheckpointable(criu, { ctid, initPid: initPidOf(), cgroupPids: ctx.cgroup(ctid).pids(), sysinfoListener: sysinfoBlocks(), cgroupRoot: `/${ctx.cfg.node}/${ctid}` });
          if (!c.checkpointable) throw new NotCheckpointable(c.blockers);
          notes.push(`checkpoint check: a trial criu dump succeeded (it took ${Math.round(c.trialMs ?? 0)} ms; the tasks were stopped during part of it)`);
        }
      },
    },
  ];
  stages.push({
    name: 'register',
    run: () => {
      registered = true; // abort is safe even when register failed half way
      const r = remote('register', { ctid, name: row.name, ostemplate: row.ostemplate, profile: row.profile, params, uidBase: row.uidBase, isDir, reuse: o.keepDst, sameUids: online ? !anySlot : !isDir && !anySlot }, MigExit.APPLY_CONFIG);
      destPrivate = r.privatePath as string;
      destDump = r.dumpDir as string;
      destBase = r.uidBase as number;
    },
    undo: () => {
      if (!inDoubt) abortDest();
    },
  });
  if (tree) {
    stages.push({
      name: 'mount image on DEST',
      run: async () => {
        destMount = remote('mount-image', tree, MigExit.APPLY_CONFIG).mountPath as string;
      },
      // The image itself goes with register's undo (abort), unless --keep-dst.
      undo: () => void remote('unmount-image', {}, 1),
    });
  }
  if (online && (ctx.storage(ctid).caps.tree || tree)) {
    stages.push({
      name: 'map uids',
      run: () => {
        if (destBase === row.uidBase) return;
        // DEST chose another range only when told it may (anySlot, decided in preflight).
        if (!anySlot || !Number.isInteger(destBase)) throw new StageFailure(MigExit.APPLY_CONFIG, `DEST gave uid range ${destBase}, not ${row.uidBase}`);
        viewDir = fs.mkdtempSync(viewPrefix);
        updateJournal(ctx, ctid, { tmp: [localDump, ssh.dir, viewDir] });
        mountViewIn(viewDir, copyFrom, shiftMap(row.uidBase, destBase, row.uidSize));
        notes.push(`uid range: ${row.uidBase}+${row.uidSize} here, ${destBase}+${row.uidSize} on DEST (files mapped on the way, the dump's user namespace moved there)`);
      },
      undo: unview,
    });
  }
  // Online, files that vanish while the tree is copied (rsync's exit 24) are for the final sync.
  // What changed after the first copy began is what the final sync sends (changed.ts).
  let copyFrom0 = 0;
  stages.push({
    name: 'copy files',
    run: () => {
      copyFrom0 = Date.now() / 1000 - CTIME_MARGIN_S;
      rsync(src(), dstOf(), 'the private area', ['--delete'], online ? [0, 24] : [0]);
    },
  });
  /**
   * The sync after the freeze (online) or the stop (restart): only the entries changed since the
   * first copy began, a changed directory whole with --delete; the whole tree when that list
   * cannot be had. Nothing changed: no rsync (and no SSH session) at all.
   */
  const syncChanged = async (what: string, extra: string[]): Promise<void> => {
    const from = src();
    const list = from.endsWith('/') && copyFrom0 ? await changedSince(from, copyFrom0, oneFs.length > 0) : null;
    if (!list) {
      notes.push(`${what}: the whole tree`);
      return rsyncAsync(from, dstOf(), what, ['--delete', ...extra]);
    }
    notes.push(`${what}: ${list.length} changed ${list.length === 1 ? 'entry' : 'entries'} since the first copy began`);
    if (!list.length) return;
    return rsyncAsync(from, dstOf(), what, ['-r', '--delete', '--from0', '--files-from=-', ...extra], Buffer.from(list.join('\0') + '\0', 'latin1'));
  };
  // Restart mode (a running container, not live): it keeps running through the first copy.
  const restart = !online && wasRunning;
  let stopAt = 0;
  let downtimeMs: number | undefined;
  if (restart) {
    stages.push({
      name: 'stop',
      run: async () => {
        stopAt = performance.now();
        updateJournal(ctx, ctid, { restartStopped: true }); // killed from here on: started again by the next command
        await stopLocked(ctx, ctid, {});
      },
      undo: async () => {
        if (inDoubt) return ctx.warn(`CT ${ctid}: not started again here: ${o.dest} may run it`);
        await startLocked(ctx, ctid);
      },
    });
    stages.push({ name: 'sync the rest', run: () => syncChanged('the private area (final)', bwLimit()) });
  }
  if (online) {
    let dumped = false;
    let localPort = 0;
    // The restore's session on DEST is opened before the freeze and waits for its request on
    // stdin: SSH's session set-up and node's start-up are not paid while the container is frozen.
    let pending: { child: ChildProcess; out: Promise<{ code: number; stdout: string; stderr: string }> } | undefined;
    const openRestoreSession = () => {
      const child = ssh.spawn([remoteCommand(), '--receive', 'restore', String(ctid)]);
      // Resolved by DEST's answer line as soon as it comes (not by the session's end, which
      // follows while the container would count as frozen), or by the end without one.
      const out = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (d) => {
          stdout += d;
          const line = stdout.endsWith('\n') ? stdout.trim().split('\n').pop() : undefined;
          if (line?.startsWith('{"ok":')) resolve({ code: 0, stdout, stderr });
        });
        child.stderr!.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code: code ?? 255, stdout, stderr }));
      });
      child.stdin!.on('error', () => {}); // a dead session shows in its exit, not as EPIPE here
      pending = { child, out };
    };
    const initPid = probe.initPid!;
    stages.push({
      name: 'page server',
      run: async () => {
        localPort = await freePort();
        const rport = 20000 + Math.floor(Math.random() * 30000);
        remote('page-server', { port: rport }, MigExit.CHECKPOINT);
        // criu dump talks to 127.0.0.1:localPort; the master connection carries it to DEST.
        ssh.forward(localPort, rport);
        openRestoreSession();
      },
      undo: () => {
        // Without {"go":true} the receiving side does nothing (receive.ts).
        pending?.child.stdin!.end('{}\n');
      },
    });
    const finalSync = () => {
      // A tree copy reads through the page cache: nothing needs to reach the image file first.
      if (!tree) storage.flush?.(t);
      return syncChanged('the private area (final)', bwLimit());
    };
    const dumpStage: Stage = {
      name: 'freeze and dump',
      run: async () => {
        // Inside the dump directory (its files only are sent), so a killed run leaves no other dir.
        const hookDir = path.join(localDump, '.hook');
        fs.mkdirSync(hookDir, { mode: 0o700 });
        // The final file sync starts as soon as CRIU has stopped every task (the hook's flag),
        // while the dump runs: the tree no longer changes from then on. The hook also records
        // the container's cgroup tree then (made again on DEST before its restore).
        const flag = path.join(hookDir, 'stopped');
        const prep = prepareDump(ctx, ctid, initPid, localDump, hookDir, flag);
        const { mounts, key, actionScript } = prep;
        // The frozen time counts from CRIU's freeze, which its hook's flag dates (below); without
        // a flag, from CRIU's start, which is earlier.
        const dumpStart = performance.now();
        frozenAt = dumpStart;
        // The tasks stay stopped: killed once DEST runs them, thawed if anything fails.
        dumped = true;
        updateJournal(ctx, ctid, { initPid, dumped: true });
        let sync: Promise<void> | undefined;
        const watch = setInterval(() => {
          if (sync || !fs.existsSync(flag)) return;
          // The hook made the flag right after CRIU froze every task: its time is the freeze's (a
          // file time is coarse, up to a tick early, so the frozen time comes out a little long).
          let ago = 0;
          try {
            ago = Math.max(0, Date.now() - fs.statSync(flag).mtimeMs);
          } catch {
            // gone already: the dump ended; the poll's time stands
          }
          frozenAt = performance.now() - ago;
          frozenSteps.push({ name: 'criu dump started', ms: dumpStart - frozenAt });
          step('freeze seen here');
          sync = finalSync().then(() => step('file sync done'));
          sync.catch(() => {}); // settled below
        }, 5);
        const dump = runDumpAsync(criu, { initPid, dir: localDump, pageServer: { address: '127.0.0.1', port: localPort }, leaveStopped: true, actionScript }, mounts, key, ctid);
        const d = await Promise.allSettled([dump]);
        step('dump done');
        clearInterval(watch);
        fs.rmSync(hookDir, { recursive: true, force: true });
        // A failed dump's error comes first (the sync then fails too when the line was cut).
        const s = sync ? await Promise.allSettled([sync]) : [];
        if (d[0]!.status === 'rejected') {
          // What stopped CRIU, task by task, when it is something inside (not the line or the disk).
          const inside = blockersFromLog(readSmall(path.join(localDump, 'dump.log')), initPid).filter((b) => b.ns);
          throw inside.length ? new NotCheckpointable(inside) : d[0]!.reason;
        }
        if (s[0]?.status === 'rejected') throw s[0].reason;
        // No flag (no network-lock step), or CRIU linked deleted-but-open files into the tree
        // (link remaps), which must go along: a sync now.
        if (!sync || dumpMadeRemaps(localDump)) await finalSync();
        writeMeta(localDump, prep.meta(criu, prep.cgroups()));
      },
      undo: () => {
        // A failed dump resumed the tasks itself (CRIU); after a good one they are stopped. The
        // tasks are listed now, not before the dump: a child forked in between is stopped too.
        if (inDoubt) return ctx.warn(`CT ${ctid}: left stopped (frozen) here: ${o.dest} may run it`);
        if (dumped && probeRuntime(p).running) thawAfterDump(helperPath(), initPid, ctx.cgroup(ctid).pids());
      },
    };
    stages.push(dumpStage);
    stages.push({
      name: 'restore on DEST',
      run: async () => {
        if (!pending) throw new StageFailure(MigExit.RESTORE, 'no session on DEST');
        // The images besides the pages (which the page server wrote there) go with the request:
        // they are small, and a separate copy would cost another session while frozen.
        const images = readImages(localDump);
        // From here on DEST may run it: a lost answer is asked again, never guessed (resolve.ts).
        requestSent = true;
        updateJournal(ctx, ctid, { requestSent: true });
        const tasks = ctx.cgroup(ctid).pids().length; // stopped: what was dumped
        pending.child.stdin!.end(JSON.stringify({ go: true, images, tasks, ...inject }) + '\n');
        step('restore request sent');
        const sentAt = performance.now() - frozenAt;
        const r = await pending.out;
        step('DEST answered');
        let reply: Record<string, unknown> | undefined;
        try {
          reply = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
        } catch {
          reply = undefined;
        }
        if (reply && !reply.ok) {
          destCleared = true; // DEST undid its restore itself (resume's undo, proof.ts)
          throw new StageFailure((reply.exit as number | undefined) ?? MigExit.RESTORE, `DEST: ${reply.error as string}`);
        }
        if (!reply) reply = destRunsIt('restore');
        requireProof(reply, MigExit.RESTORE);
        frozenMs = performance.now() - frozenAt;
        // DEST's own steps, from its receipt of the request (about when it was sent).
        const destSteps = Array.isArray(reply.steps) ? (reply.steps as Array<{ name?: unknown; ms?: unknown }>) : [];
        const answered = frozenSteps.pop()!;
        for (const d of destSteps) if (typeof d.name === 'string' && typeof d.ms === 'number') frozenSteps.push({ name: `DEST: ${d.name}`, ms: sentAt + d.ms });
        frozenSteps.push(answered);
        updateJournal(ctx, ctid, { restored: true });
        notes.push(`${tasks} tasks were dumped here`);
      },
      // Before the thaw here (the dump's undo): DEST's copy goes first, so it never runs twice.
      undo: undoOnDest,
    });
    stages.push({
      name: 'stop source',
      run: async () => {
        // It runs on DEST now: the stopped tasks here go, and with them the host side.
        db.setState(ctid, 'stopping', 'migrated out (online)');
        for (const pid of [initPid]) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        }
        for (let i = 0; i < 2000 && probe.monitorPid && pidAlive(probe.monitorPid); i++) sleepMs(5);
        cleanupRuntime(ctx, ctid, { unmount: true });
        db.setState(ctid, 'stopped', 'migrated out (online)');
      },
    });
  } else {
    stages.push({
      name: 'start on DEST',
      run: () => {
        if (!wasRunning) return void remote('start', { run: false, fromBase: row.uidBase }, MigExit.START_VPS);
        requestSent = true;
        updateJournal(ctx, ctid, { requestSent: true });
        let reply: Record<string, unknown>;
        try {
          reply = remote('start', { run: true, fromBase: row.uidBase }, MigExit.START_VPS);
        } catch (e) {
          if (!(e instanceof NoAnswer)) throw e;
          reply = destRunsIt('start');
        }
        requireProof(reply, MigExit.START_VPS);
        downtimeMs = performance.now() - stopAt;
        updateJournal(ctx, ctid, { started: true });
      },
      // Before the start here again (the stop's undo).
      undo: undoOnDest,
    });
  }
  if (o.removeSource) {
    stages.push({
      name: 'remove source',
      run: () => destroyLocked(ctx, ctid),
    });
  }

  if (o.dryRun) {
    try {
      await runStages(stages.slice(0, 1), ctx.warn);
    } finally {
      ssh.close();
      fs.rmSync(localDump, { recursive: true, force: true });
    }
    notes.push(`dry run: stages would be ${stages.map((s) => s.name).join(', ')}`);
    return { timings: [], online, notes };
  }
  // Killed from here on, the next operation on the container finishes the source side (journal.ts).
  writeJournal(ctx, ctid, { pid: process.pid, dest: o.dest, sshOpts: o.sshOpts, remote: remoteCommand(), keepDst: o.keepDst, tmp: [localDump, ssh.dir], control: ssh.control });
  try {
    const res = await runStages(stages, ctx.warn, o.onStage);
    return { timings: res.timings, frozenMs, ...(frozenSteps.length ? { frozenSteps } : {}), downtimeMs, online, notes };
  } finally {
    try {
      unview();
    } catch (e) {
      ctx.warn(`the idmapped view ${viewDir}: ${(e as Error).message}`);
    }
    // In doubt, the question stays for the next command on the container (journal.ts).
    if (!inDoubt) removeJournal(ctx, ctid);
    ssh.close();
    fs.rmSync(localDump, { recursive: true, force: true });
  }
}
