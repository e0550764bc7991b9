/**
 * vzmigrate between nodes that hand out uid slots on their own (migrate/rig.ts: the same pool on
 * both): an online migration into a node whose same slot is taken restores into DEST's own free
 * slot (files mapped on the way, the dump's user namespace moved), and back again; offline too.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO, isRoot, type TestNode } from './harness.js';
import { MigrationRig } from './migrate/rig.js';
import { counter, counterGaps, installWorkload, pids, removeWorkloadBinary, waitWorkload } from './criu/workload.js';

const CRIU = process.env.VZKIT_CRIU ?? '/opt/vzkit/criu/sbin/criu';
const criuReady = isRoot && spawnSync(CRIU, ['check'], { encoding: 'utf8' }).status === 0 && fs.existsSync('/usr/sbin/sshd');
const SLOT = 65536;

/** [monitor, init] host pids of a running container. */
function initPid(n: TestNode, ctid: number): number {
  return Number(fs.readFileSync(path.join(n.root, 'run', `${ctid}.pid`), 'utf8').trim().split(/\s+/)[1]);
}

/** "inside outside count" of /proc/PID/uid_map and gid_map. */
function maps(pid: number): string[] {
  return ['uid_map', 'gid_map'].map((f) => fs.readFileSync(`/proc/${pid}/${f}`, 'utf8').trim().split(/\s+/).join(' '));
}

/** Every owner (uid and gid) in a private area: offsets from base, or "host N" outside its range. */
function ownersIn(root: string, base: number): Set<number | string> {
  const seen = new Set<number | string>();
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    for (const id of [st.uid, st.gid]) seen.add(id >= base && id < base + SLOT ? id - base : `host ${id}`);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(root);
  return seen;
}

describe.skipIf(!criuReady)('vzmigrate across uid slots', () => {
  let rig: MigrationRig;
  const mig = (...args: string[]) => rig.src.run('vzmigrate', [`--ssh=${rig.sshOptions()}`, ...args], { timeout: 300_000 });
  beforeAll(() => {
    rig = new MigrationRig('sysinfo_intercept: false\n');
    rig.setup();
    rig.setupBack();
  }, 60_000);
  afterAll(() => {
    rig?.close();
    removeWorkloadBinary();
  });

  it('online into a node whose same slot is taken: runs in DEST\'s free slot, and comes back', () => {
    const { src, dst } = rig;
    const base = src.idmapBase;
    // DEST's slot 0 is another container's, running.
    dst.ok('create', '430', '--ostemplate', 'busybox');
    dst.ok('start', '430');
    const other = initPid(dst, 430);
    const otherMaps = maps(other);
    expect(otherMaps[0]).toBe(`0 ${base} ${SLOT}`);
    // The source's container has slot 0 too.
    const addr = rig.ctAddr(31);
    src.ok('create', '431', '--ostemplate', 'busybox', '--ipadd', addr);
    installWorkload(src, 431);
    src.ok('start', '431');
    waitWorkload(src, 431);
    // A file of a non-root user inside, to see its owner move with the range.
    src.ok('exec', '431', 'sh', '-c', 'echo kept > /root/marker; touch /home/u1000; chown 1000:1000 /home/u1000');
    expect(maps(initPid(src, 431))[0]).toBe(`0 ${base} ${SLOT}`);
    const pids0 = pids(src, 431);

    const r = mig('--online', '-t', rig.destAddr, '431');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const frozen = Number(/frozen time\s+([\d.]+) s/.exec(r.stdout)?.[1]);
    console.log(`uid slots: frozen ${frozen} s into another slot (there)`);
    expect(r.stdout).toMatch(/uid range: .* on DEST/);
    // On DEST: slot 1, in the maps of its tasks and in the owners of its files.
    const moved = base + SLOT;
    expect(dst.ok('status', '431')).toMatch(/running/);
    const pid = initPid(dst, 431);
    expect(maps(pid)).toEqual([`0 ${moved} ${SLOT}`, `0 ${moved} ${SLOT}`]);
    expect(fs.statSync(`/proc/${pid}`).uid).toBe(moved);
    const priv = path.join(dst.root, 'private', '431');
    // installWorkload copies /workload as host root: kept so (ids outside the range are not moved).
    expect(ownersIn(priv, moved)).toEqual(new Set([0, 1000, 'host 0']));
    expect(fs.statSync(path.join(priv, 'home/u1000')).uid).toBe(moved + 1000);
    // Its processes and counter go on; it writes its files as its root.
    expect(pids(dst, 431)).toEqual(pids0);
    spawnSync('sleep', ['0.5']);
    const g = counterGaps(counter(dst, 431));
    expect(g.continuous).toBe(true);
    expect(g.maxGapMs).toBeLessThan(frozen * 1000 + 1500);
    expect(dst.ok('exec', '431', 'sh', '-c', 'cat /root/marker; echo new > /root/new; id -u')).toBe('kept\n0\n');
    expect(fs.statSync(path.join(priv, 'root/new')).uid).toBe(moved);
    expect(rig.pingFromDest(addr)).toBe(true);
    // The other container on DEST is untouched.
    expect(initPid(dst, 430)).toBe(other);
    expect(maps(other)).toEqual(otherMaps);
    expect(dst.ok('exec', '430', 'id', '-u')).toBe('0\n');
    // Nothing left on the source; a new container there takes slot 0 again.
    expect(src.vzctl('status', '431').stdout).toMatch(/deleted/);
    src.ok('create', '432', '--ostemplate', 'busybox');
    expect(fs.statSync(path.join(src.root, 'private', '432')).uid).toBe(base);

    // Back to the source, whose slot 0 is taken now: slot 1 there.
    const b = rig.fromDest(path.join(REPO, 'dist', 'vzmigrate'), [`--ssh=${rig.sshOptions()}`, '--online', '-t', rig.srcAddr, '431']);
    expect(b.status, b.stderr + b.stdout).toBe(0);
    expect(src.ok('status', '431')).toMatch(/running/);
    const pidBack = initPid(src, 431);
    expect(maps(pidBack)).toEqual([`0 ${moved} ${SLOT}`, `0 ${moved} ${SLOT}`]);
    expect(ownersIn(path.join(src.root, 'private', '431'), moved)).toEqual(new Set([0, 1000, 'host 0']));
    expect(pids(src, 431)).toEqual(pids0);
    spawnSync('sleep', ['0.5']);
    expect(counterGaps(counter(src, 431)).continuous).toBe(true);
    expect(src.ok('exec', '431', 'cat', '/root/new')).toBe('new\n');
    expect(dst.vzctl('status', '431').stdout).toMatch(/deleted/);
    expect(initPid(dst, 430)).toBe(other);

    src.ok('stop', '431');
    src.ok('destroy', '431');
    src.ok('destroy', '432');
    dst.ok('stop', '430');
    dst.ok('destroy', '430');
  }, 600_000);

  it('online into a node whose same slot is free: it keeps its range, nothing is mapped', () => {
    const { src, dst } = rig;
    src.ok('create', '435', '--ostemplate', 'busybox');
    installWorkload(src, 435);
    src.ok('start', '435');
    waitWorkload(src, 435);
    const r = mig('--online', '-t', rig.destAddr, '435');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    console.log(`uid slots: frozen ${/frozen time\s+([\d.]+) s/.exec(r.stdout)?.[1]} s into the same slot`);
    expect(r.stdout).not.toMatch(/uid range:/);
    expect(maps(initPid(dst, 435))[0]).toBe(`0 ${src.idmapBase} ${SLOT}`);
    expect(counterGaps(counter(dst, 435)).continuous).toBe(true);
    dst.ok('stop', '435');
    dst.ok('destroy', '435');
  }, 300_000);

  it('killed once it mapped the uids, then a restore failing on DEST: the view goes, it runs here, and a new run works', () => {
    const { src, dst } = rig;
    const views = () => ({
      mounts: fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('/vzmigrate-view-438-')).length,
      dirs: fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('vzmigrate-view-438-')).length,
    });
    dst.ok('create', '437', '--ostemplate', 'busybox');
    src.ok('create', '438', '--ostemplate', 'busybox');
    src.ok('start', '438');
    src.ok('exec', '438', 'sh', '-c', 'echo kept > /root/marker');
    const r = spawnSync(path.join(REPO, 'dist/vzmigrate'), [`--ssh=${rig.sshOptions()}`, '--online', rig.destAddr, '438'], {
      env: { ...src.env, VZKIT_CRASH_AT: '3', VZKIT_CRASH_LIST: '1' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.signal, r.stderr).toBe('SIGKILL');
    expect(r.stderr).toMatch(/vzkit-crash-point 3 migrate: map uids/);
    expect(views()).toEqual({ mounts: 1, dirs: 1 });
    // The view, left mounted: in a 0700 directory, showing the files in DEST's range.
    const vdir = path.join(os.tmpdir(), fs.readdirSync(os.tmpdir()).find((f) => f.startsWith('vzmigrate-view-438-'))!);
    expect(fs.statSync(vdir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(vdir, 'root', 'root', 'marker')).uid).toBe(src.idmapBase + SLOT);
    expect(fs.statSync(path.join(src.root, 'private', '438', 'root', 'marker')).uid).toBe(src.idmapBase);
    src.ok('set', '438', '--description', 'after the crash', '--save');
    expect(views()).toEqual({ mounts: 0, dirs: 0 });
    expect(src.ok('status', '438')).toMatch(/running/);
    // A restore that fails on DEST: undone, view and all; it runs on here.
    const failed = spawnSync(path.join(REPO, 'dist/vzmigrate'), [`--ssh=${rig.sshOptions()}`, '--online', rig.destAddr, '438'], {
      env: { ...src.env, VZKIT_INJECT_RESTORE_FAIL: '1' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(failed.status, failed.stderr).toBe(17);
    expect(views()).toEqual({ mounts: 0, dirs: 0 });
    expect(src.ok('exec', '438', 'cat', '/root/marker')).toBe('kept\n');
    expect(dst.vzctl('status', '438').stdout).toMatch(/deleted/);
    const again = mig('--online', rig.destAddr, '438');
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(views()).toEqual({ mounts: 0, dirs: 0 });
    expect(maps(initPid(dst, 438))[0]).toBe(`0 ${src.idmapBase + SLOT} ${SLOT}`);
    expect(dst.ok('exec', '438', 'cat', '/root/marker')).toBe('kept\n');
    dst.ok('stop', '438');
    dst.ok('destroy', '438');
    dst.ok('destroy', '437');
  }, 300_000);

  it('a DEST with no free uid range refuses in preflight, before anything is touched', () => {
    const { src, dst } = rig;
    const full = ['451', '452', '453', '454']; // the rig's nodes have 4 slots
    for (const id of full) dst.ok('create', id, '--ostemplate', 'busybox');
    src.ok('create', '455', '--ostemplate', 'busybox');
    src.ok('start', '455');
    for (const args of [['--online'], []]) {
      const r = mig(...args, rig.destAddr, '455');
      expect(r.code, r.stderr).toBe(9);
      expect(r.stderr).toMatch(/stage "preflight" failed: no free uid range on DEST: all 4 idmap slots are in use/);
    }
    expect(src.ok('status', '455')).toMatch(/running/);
    expect(dst.vzctl('status', '455').stdout).toMatch(/deleted/);
    src.ok('stop', '455');
    src.ok('destroy', '455');
    for (const id of full) dst.ok('destroy', id);
  }, 300_000);

  it('offline (dir) and online (image) into a node whose same slot is taken: DEST\'s free slot', () => {
    const { src, dst } = rig;
    const base = src.idmapBase;
    dst.ok('create', '433', '--ostemplate', 'busybox');
    src.ok('create', '434', '--ostemplate', 'busybox');
    src.ok('start', '434');
    src.ok('exec', '434', 'sh', '-c', 'echo kept > /root/marker');
    const r = mig(rig.destAddr, '434');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(dst.ok('status', '434')).toMatch(/running/);
    const m = maps(initPid(dst, 434))[0]!.split(' ').map(Number);
    expect(m[1]).not.toBe(base);
    expect(ownersIn(path.join(dst.root, 'private', '434'), m[1]!)).toEqual(new Set([0]));
    expect(dst.ok('exec', '434', 'cat', '/root/marker')).toBe('kept\n');
    // An image layout, online: its mounted tree is copied through the idmapped view into DEST's
    // own image (the files inside go, not the image file), so it moves into another range too.
    src.ok('create', '436', '--ostemplate', 'busybox', '--layout', 'image', '--diskspace', '256M');
    src.ok('start', '436');
    src.ok('exec', '436', 'sh', '-c', 'echo kept > /root/marker; touch /home/u1000; chown 1000:1000 /home/u1000');
    const r2 = mig('--online', rig.destAddr, '436');
    expect(r2.code, r2.stderr + r2.stdout).toBe(0);
    expect(dst.ok('status', '436')).toMatch(/running/);
    const m2 = maps(initPid(dst, 436))[0]!.split(' ').map(Number);
    expect(m2[1]).not.toBe(base);
    const mnt = path.join(dst.root, 'root', '436');
    expect(fs.statSync(mnt).uid).toBe(m2[1]);
    expect(fs.statSync(path.join(mnt, 'bin/busybox')).uid).toBe(m2[1]);
    expect(fs.statSync(path.join(mnt, 'home/u1000')).gid).toBe(m2[1]! + 1000);
    expect(dst.ok('exec', '436', 'sh', '-c', 'cat /root/marker; stat -c %u /home/u1000')).toBe('kept\n1000\n');
    for (const id of ['434', '436']) {
      dst.ok('stop', id);
      dst.ok('destroy', id);
    }
    dst.ok('destroy', '433');
  }, 300_000);
});
