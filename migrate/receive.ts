/**
 * The receiving side of vzmigrate: `vzmigrate --receive VERB CTID`, run on DEST over SSH by the
 * source. Reads one JSON object on stdin, prints one on stdout ({ok:true,...} or
 * {ok:false, exit, error}). Uses DEST's own config: VZKIT_CONFIG from the SSH session's
 * environment (sshd SetEnv / AcceptEnv), else /etc/vzkit/vzkit.yaml.
 *
 * While a migration runs, the container's record on DEST is in state "creating": invisible to
 * vzctl and vzlist, and a create of the same CTID would clean it up after a crash.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Context } from '../src/core/context.js';
import { withLock } from '../src/core/lock.js';
import { VzError, isVzError } from '../src/base/errors.js';
import { splitStored } from '../src/config/templates.js';
import { probeRuntime } from '../src/core/runtime-state.js';
import { cleanupRuntime } from '../src/core/cleanup.js';
import { getStorageDriver } from '../src/storage/index.js';
import { resumeLocked } from '../src/core/ops/resume.js';
import { startLocked } from '../src/core/ops/start.js';
import { stopLocked } from '../src/core/ops/stop.js';
import { checkDiskLimits, diskParams } from '../src/core/disk.js';
import { VERSION } from '../src/base/version.js';
import { shiftTree } from '../src/sys/idshift.js';
import { criuNestedKinds, criuPath, criuRestoresListeners, criuRestoresPsi, criuVersion, writeImages } from '../src/criu/criu.js';
import { MigExit, StageFailure } from './errors.js';
import { mountImage, unmountImage } from './receive-image.js';
import { rebaseDump } from './dump-uids.js';
import { proveRunning, type RunProof } from './proof.js';
import { inject, injected } from '../src/base/inject.js';
import { answerLine, refusalLine, type Inject, type InfoRequest, type RegisterRequest, type Reply, type Request, type Verb } from './protocol.js';

/** The files can go into any range DEST gives: shifted here offline (image layouts inside the
 * image), mapped on the way online (a dir layout, when the source says it can). */
function anySlot(q: { online: boolean; isDir?: boolean; anySlot?: boolean }): boolean {
  return (!q.online && Boolean(q.isDir)) || q.anySlot === true;
}

function dumpDir(ctx: Context, ctid: number): string {
  return path.join(ctx.cfg.paths.dumps, `${ctid}.migrate`);
}

function pageServerPid(ctx: Context, ctid: number): string {
  return path.join(ctx.cfg.paths.dumps, `${ctid}.page-server.pid`);
}

function slotOf(ctx: Context, uidBase: number, uidSize: number): number | undefined {
  const { base, size, count } = ctx.cfg.idmap;
  const slot = (uidBase - base) / size;
  return uidSize === size && Number.isInteger(slot) && slot >= 0 && slot < count ? slot : undefined;
}

function hostAddresses(): Set<string> {
  const r = spawnSync('ip', ['-o', 'addr', 'show'], { encoding: 'utf8' });
  return new Set([...(r.stdout ?? '').matchAll(/inet6? ([0-9a-f.:]+)\//g)].map((m) => m[1]!));
}

function info(ctx: Context, q: InfoRequest): Reply<'info'> {
  const problems: Array<{ exit: number; msg: string }> = [];
  const db = ctx.db();
  const existing = db.getContainer(q.ctid);
  if (existing && existing.state !== 'creating') problems.push({ exit: MigExit.EXISTS, msg: `CT ${q.ctid} already exists on DEST` });
  const slot = slotOf(ctx, q.uidBase, q.uidSize);
  if (anySlot(q)) {
    // Any free range on DEST (its own slot when free); the files go into it.
    if (q.uidSize !== ctx.cfg.idmap.size) problems.push({ exit: MigExit.EXISTS, msg: `uid range size ${q.uidSize} differs from DEST's ${ctx.cfg.idmap.size}` });
    // One a half-received copy of this CT holds counts as free (register replaces that record).
    const used = new Set(db.listContainers().filter((c) => c.ctid !== q.ctid).map((c) => c.idmapSlot));
    if (used.size >= ctx.cfg.idmap.count && [...Array(ctx.cfg.idmap.count).keys()].every((s) => used.has(s))) {
      problems.push({ exit: MigExit.EXISTS, msg: `no free uid range on DEST: all ${ctx.cfg.idmap.count} idmap slots are in use` });
    }
  } else if (slot === undefined) {
    problems.push({ exit: MigExit.EXISTS, msg: `its uid range ${q.uidBase}+${q.uidSize} is outside DEST's idmap pool (base ${ctx.cfg.idmap.base}, size ${ctx.cfg.idmap.size})` });
  } else if (!db.slotFree(slot) && !(existing?.state === 'creating' && existing.uidBase === q.uidBase)) {
    // Online, the files are mapped on the way only by a source that can make an idmapped view.
    const why = q.online ? ' (the source cannot map its files into another range on the way: migrate it offline, or free that range on DEST)' : '';
    problems.push({ exit: MigExit.EXISTS, msg: `its uid range ${q.uidBase}+${q.uidSize} is used by another container on DEST${why}` });
  }
  const taken = new Map(db.listIps().filter((i) => i.ctid !== q.ctid).map((i) => [i.ip, i.ctid]));
  const host = hostAddresses();
  for (const ip of q.ips) {
    if (taken.has(ip)) problems.push({ exit: MigExit.IP_IN_USE, msg: `address ${ip} is used by CT ${taken.get(ip)} on DEST` });
    else if (host.has(ip)) problems.push({ exit: MigExit.IP_IN_USE, msg: `address ${ip} is configured on DEST's host` });
  }
  const t = ctx.target(q.ctid);
  if (fs.existsSync(t.privatePath) && !q.reuse && existing?.state !== 'creating') {
    problems.push({ exit: MigExit.EXISTS, msg: `private area ${t.privatePath} already exists on DEST` });
  }
  fs.mkdirSync(ctx.cfg.paths.private, { recursive: true });
  const st = fs.statfsSync(ctx.cfg.paths.private);
  const free = st.bavail * st.bsize;
  // The copy, plus room for the dump and a margin.
  if (free < q.bytes * 1.1 + (64 << 20)) {
    problems.push({ exit: MigExit.DISKSPACE, msg: `not enough disk on DEST: ${Math.round(free / 2 ** 20)} MiB free, ${Math.round(q.bytes / 2 ** 20)} MiB needed` });
  }
  const disk = diskParams(q.params);
  const storage = getStorageDriver(splitStored(q.params).params.layout ?? 'dir');
  // Only a quota driver needs this node's file system to enforce the limits; an image's limit
  // is its own size and travels with it.
  if ((disk.diskspace || disk.diskinodes) && storage.caps.quota) {
    const why = storage.limitSupport?.(t);
    if (why) problems.push({ exit: MigExit.QUOTA, msg: `disk quota is not available on DEST: ${why}` });
  }
  let criu: string | undefined;
  if (q.online) {
    try {
      criu = criuPath();
      const chk = spawnSync(criu, ['check'], { encoding: 'utf8' });
      if (chk.status !== 0) problems.push({ exit: MigExit.RESTORE, msg: `criu check fails on DEST: ${(chk.stderr || chk.stdout).trim()}` });
      // Processes in nested UTS/IPC namespaces: only a CRIU with vzkit's patch 0003 restores them.
      const nested = Array.isArray(q.nested) ? q.nested.filter((k): k is string => k === 'uts' || k === 'ipc') : [];
      const have = nested.length ? criuNestedKinds(ctx.cfg.paths.run) : [];
      const missing = nested.filter((k) => !have.includes(k));
      if (missing.length) {
        problems.push({
          exit: MigExit.RESTORE,
          msg: `processes inside run in nested ${missing.join(' and ')} namespaces, which DEST's CRIU (${criu}) cannot restore: it lacks vzkit's patch 0003-nested-uts-ipc (sh scripts/criu.sh on DEST)`,
        });
      }
      // resume refuses such a dump (sysinfo would fail with ENOSYS): asked now, before the freeze.
      if (q.sysinfo === true && !criuRestoresListeners(criu)) {
        problems.push({ exit: MigExit.RESTORE, msg: `it intercepts sysinfo(2), and DEST's CRIU (${criu}) cannot give its seccomp listeners back: it lacks vzkit's patch 0002-seccomp-notify-listener (sh scripts/criu.sh on DEST)` });
      }
      // systemd's memory-pressure watches: a CRIU without vzkit's patch 0015 would restore them
      // without their triggers (protobuf-c skips the unknown field) and PID 1 would spin.
      if (q.psi === true && !criuRestoresPsi(ctx.cfg.paths.run)) {
        problems.push({
          exit: MigExit.RESTORE,
          msg: `processes inside watch memory pressure (PSI triggers), which DEST's CRIU (${criu}) cannot set again: it lacks vzkit's patch 0015-psi-trigger-restore (sh scripts/criu.sh on DEST)`,
        });
      }
      if (q.cpuinfo) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzmigrate-cpu-'));
        try {
          fs.writeFileSync(path.join(dir, 'cpuinfo.img'), Buffer.from(q.cpuinfo, 'base64'));
          const c = spawnSync(criu, ['cpuinfo', 'check', '-D', dir], { encoding: 'utf8' });
          if (c.status !== 0) problems.push({ exit: MigExit.UNSUP_CPU, msg: `CPU features differ (criu cpuinfo check): ${(c.stderr || c.stdout).trim().split('\n').pop()}` });
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    } catch (e) {
      problems.push({ exit: MigExit.RESTORE, msg: (e as Error).message });
    }
  }
  // rebase: restore() moves a dump's user namespace to this node's range (a source checks it).
  return { version: VERSION, node: ctx.cfg.node, criu: criu ? criuVersion(criu) : null, privatePath: t.privatePath, dumpDir: dumpDir(ctx, q.ctid), problems, rebase: true };
}

function register(ctx: Context, q: RegisterRequest): Reply<'register'> {
  const db = ctx.db();
  const old = db.getContainer(q.ctid);
  if (old && old.state !== 'creating') throw new StageFailure(MigExit.EXISTS, `CT ${q.ctid} already exists on DEST`);
  if (old) db.deleteContainer(q.ctid); // a migration that died half way
  const same = slotOf(ctx, q.uidBase, ctx.cfg.idmap.size);
  if (q.sameUids && same === undefined) throw new StageFailure(MigExit.EXISTS, `uid range ${q.uidBase} does not fit DEST's idmap pool`);
  // Otherwise the same range when it is free here (nothing to move), else the lowest free one.
  const slot = q.sameUids || (same !== undefined && db.slotFree(same)) ? same : undefined;
  const row = db.insertContainer({
    ctid: q.ctid,
    name: q.name,
    ostemplate: q.ostemplate,
    profile: q.profile,
    uidSize: ctx.cfg.idmap.size,
    idmapBase: ctx.cfg.idmap.base,
    idmapCount: ctx.cfg.idmap.count,
    state: 'creating',
    ...(slot !== undefined ? { slot } : {}),
  });
  db.setParams(q.ctid, q.params);
  const t = ctx.target(q.ctid);
  const storage = getStorageDriver(splitStored(q.params).params.layout ?? 'dir');
  if (q.isDir && !fs.existsSync(t.privatePath)) {
    // An empty private area with this node's quota set up; rsync fills it.
    const limits = diskParams(q.params);
    checkDiskLimits(ctx, storage, t, limits, limits, 'create');
    storage.create(t, () => {}, {});
  }
  fs.rmSync(dumpDir(ctx, q.ctid), { recursive: true, force: true });
  fs.mkdirSync(dumpDir(ctx, q.ctid), { recursive: true, mode: 0o700 });
  return { privatePath: t.privatePath, dumpDir: dumpDir(ctx, q.ctid), uidBase: row.uidBase };
}

function pageServer(ctx: Context, ctid: number, port: number): Reply<'page-server'> {
  const dir = dumpDir(ctx, ctid);
  const pid = pageServerPid(ctx, ctid);
  killPageServer(ctx, ctid); // one left waiting by a vzmigrate that was killed before its dump
  fs.rmSync(pid, { force: true });
  // --daemon returns once it listens; it ends by itself when the dump closes the connection.
  const r = spawnSync(criuPath(), ['page-server', '-D', dir, '--address', '127.0.0.1', '--port', String(port), '--daemon', '--pidfile', pid, '-o', 'page-server.log', '-v4'], { encoding: 'utf8' });
  if (r.status !== 0) throw new StageFailure(MigExit.CHECKPOINT, `criu page-server on DEST: ${(r.stderr || r.stdout).trim()}`);
  return { port };
}

function killPageServer(ctx: Context, ctid: number): void {
  const f = pageServerPid(ctx, ctid);
  try {
    const pid = Number(fs.readFileSync(f, 'utf8').trim());
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // not running
  }
  fs.rmSync(f, { force: true });
}

async function restore(ctx: Context, ctid: number, images: Record<string, string> | undefined): Promise<Reply<'restore'>> {
  // When each step ended, from the request (the source shows them under vzmigrate -t).
  const t0 = performance.now();
  const steps: Array<{ name: string; ms: number }> = [];
  const step = (name: string) => steps.push({ name, ms: Math.round(performance.now() - t0) });
  return withLock(ctx, ctid, async () => {
    killPageServer(ctx, ctid);
    if (images) writeImages(dumpDir(ctx, ctid), images);
    const row = ctx.db().getContainer(ctid)!;
    // The files came into this node's range (migrate.ts); the dump's user namespace goes there too.
    rebaseDump(dumpDir(ctx, ctid), row.uidBase, row.uidSize);
    ctx.db().setState(ctid, 'suspended', 'migrated in (online)');
    step('images in place');
    // adoptMount: an image mounted by mount-image is this restore's (its stop unmounts it).
    // keepDump: its pages go after the answer, not while the source waits for it (receiveMain).
    const res = await resumeLocked(ctx, ctid, { dumpDir: dumpDir(ctx, ctid), adoptMount: true, keepDump: true });
    afterReply.push(() => fs.rmSync(dumpDir(ctx, ctid), { recursive: true, force: true }));
    step('resumed');
    const proof = await provenOrStopped(ctx, ctid, res.initPid, 'restored', MigExit.RESTORE);
    step('proven');
    return { initPid: res.initPid, monitorPid: res.monitorPid, proof, steps };
  });
}

/**
 * The proof that this node runs it (proof.ts), or the copy here is stopped (back to "creating",
 * for abort to clean up) and the request fails: no false success.
 */
async function provenOrStopped(ctx: Context, ctid: number, initPid: number, what: string, exit: number): Promise<RunProof> {
  const proof = proveRunning(ctx, ctid, initPid);
  if (proof.ok) return proof;
  try {
    await stopLocked(ctx, ctid, { fast: true });
  } finally {
    cleanupRuntime(ctx, ctid, { unmount: true });
    ctx.db().setState(ctid, 'creating', `migration: ${what}, but not proven`);
  }
  throw new StageFailure(exit, `${what} on DEST, but ${proof.why}: stopped there again`);
}

/** Does this node run the container now, with the proof? Under its lock: a restore in progress is waited for. */
async function resolve(ctx: Context, ctid: number): Promise<Reply<'resolve'>> {
  return withLock(ctx, ctid, () => {
    const row = ctx.db().getContainer(ctid);
    const probe = probeRuntime(ctx.paths(ctid));
    if (!row || !probe.running) return { exists: Boolean(row), running: false };
    return { exists: true, running: true, proof: proveRunning(ctx, ctid, probe.initPid!) };
  });
}

async function start(ctx: Context, ctid: number, run: boolean, fromBase: number): Promise<Reply<'start'>> {
  return withLock(ctx, ctid, async () => {
    const row = ctx.db().getContainer(ctid)!;
    if (fromBase !== row.uidBase) {
      // rsync kept the source's numeric ids: move them into this node's range for the CT.
      // Through the mount: the tree of a directory, the files inside an image.
      const t = ctx.target(ctid);
      const storage = ctx.storage(ctid);
      storage.mount(t);
      try {
        shiftTree(t.mountPath, row.uidBase, row.uidSize, fromBase, true);
      } finally {
        storage.unmount(t);
      }
    }
    ctx.db().setState(ctid, 'stopped', 'migrated in (offline)');
    fs.rmSync(dumpDir(ctx, ctid), { recursive: true, force: true });
    if (!run) return {};
    if (injected('START_FAIL')) throw new StageFailure(MigExit.START_VPS, 'injected start failure');
    const res = await startLocked(ctx, ctid);
    return { initPid: res.initPid, proof: await provenOrStopped(ctx, ctid, res.initPid, 'started', MigExit.START_VPS) };
  });
}

/** Takes back everything the migration made on DEST; the private area stays with keepPrivate. */
async function abort(ctx: Context, ctid: number, keepPrivate: boolean): Promise<Reply<'abort'>> {
  killPageServer(ctx, ctid);
  const db = ctx.db();
  const row = db.getContainer(ctid);
  if (!row) {
    fs.rmSync(dumpDir(ctx, ctid), { recursive: true, force: true });
    return { removed: false };
  }
  return withLock(ctx, ctid, async () => {
    if (probeRuntime(ctx.paths(ctid)).running) {
      db.setState(ctid, 'running', 'migration undone');
      await stopLocked(ctx, ctid, { fast: true });
    }
    cleanupRuntime(ctx, ctid, { unmount: true });
    if (!keepPrivate) getStorageDriver((db.getParams(ctid).layout as string | undefined) ?? 'dir').destroy(ctx.target(ctid));
    const p = ctx.paths(ctid);
    for (const f of [p.statusfile, p.consoleLog, `${p.consoleLog}.1`, p.monitorLog, path.join(path.dirname(p.monitorLog), `${ctid}.restore.log`), path.join(path.dirname(p.monitorLog), `${ctid}.dump.log`)]) fs.rmSync(f, { force: true });
    fs.rmSync(dumpDir(ctx, ctid), { recursive: true, force: true });
    db.deleteContainer(ctid);
    return { removed: true };
  });
}

/** Work that need not delay the answer (the source counts the wait as frozen time). */
const afterReply: Array<() => void> = [];

/** Each verb's handler; a request's fields are checked (or coerced) where they are used. */
const HANDLERS: { [V in Verb]: (ctx: Context, ctid: number, q: Request<V>) => Reply<V> | Promise<Reply<V>> } = {
  info: (ctx, _ctid, q) => info(ctx, q),
  register: (ctx, _ctid, q) => register(ctx, q),
  'mount-image': (ctx, ctid, q) => mountImage(ctx, ctid, q),
  'unmount-image': (ctx, ctid) => unmountImage(ctx, ctid),
  'page-server': (ctx, ctid, q) => pageServer(ctx, ctid, Number(q.port)),
  // The session is opened before the freeze; only {"go":true} restores (EOF or {} = undone).
  restore: (ctx, ctid, q) => (q.go !== true ? { cancelled: true } : restore(ctx, ctid, q.images)),
  start: (ctx, ctid, q) => start(ctx, ctid, Boolean(q.run), Number(q.fromBase)),
  resolve: (ctx, ctid) => resolve(ctx, ctid),
  abort: (ctx, ctid, q) => abort(ctx, ctid, Boolean(q.keepPrivate)),
};

/** Entry: argv = [VERB, CTID], request on stdin. */
export async function receiveMain(argv: string[]): Promise<number> {
  const [verb, id] = argv;
  const ctid = Number(id);
  // The source may be gone (connection cut, vzmigrate killed): an unread answer must not end
  // this process half way through a restore (EPIPE), the source asks again (resolve.ts).
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const ctx = new Context({ progress: () => {}, warn: (m) => process.stderr.write(`vzkit: warning: ${m}\n`) });
  try {
    const input = fs.readFileSync(0, 'utf8');
    const q = input.trim() ? (JSON.parse(input) as Inject) : {};
    if (q.inject_restore_fail) inject('RESTORE_FAIL');
    if (q.inject_start_fail) inject('START_FAIL');
    if (!Number.isInteger(ctid) || ctid <= 0) throw new VzError('SYNTAX', `bad CTID "${id}"`);
    if (!verb || !Object.hasOwn(HANDLERS, verb)) throw new VzError('SYNTAX', `unknown receive verb "${verb}"`);
    const handler = HANDLERS[verb as Verb] as (ctx: Context, ctid: number, q: unknown) => Promise<Reply<Verb>> | Reply<Verb>;
    const reply = await handler(ctx, ctid, q);
    process.stdout.write(answerLine(reply));
    for (const f of afterReply.splice(0)) f();
    return 0;
  } catch (e) {
    const exit = e instanceof StageFailure ? e.exit : isVzError(e) ? e.exit : 1;
    process.stdout.write(refusalLine(exit, (e as Error).message));
    return 1;
  } finally {
    ctx.close();
  }
}
