/**
 * What a tenant can do to its container's monitor (native/monitor.c) from inside: keep the
 * process trees of exec'd commands alive so that their sysinfo(2) listeners pile up, and flood
 * the console so that the monitor burns host CPU outside the container's cgroup.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestNode, REPO, isRoot, waitFor } from './harness.js';

const CT = '501';
const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux). */
function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // fields 14 and 15
}

/** Bytes the process wrote (write, send: the console log and a console client). */
function written(pid: number): number {
  return Number(/^wchar: (\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
}

function seccompListeners(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).filter((f) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${f}`) === 'anon_inode:seccomp notify';
    } catch {
      return false; // closed meanwhile
    }
  }).length;
}

function monitorPid(n: TestNode, ct: string): number {
  return Number(fs.readFileSync(`${n.root}/run/${ct}.pid`, 'utf8').trim().split(/\s+/)[0]);
}

describe.skipIf(!isRoot)('monitor abuse (root, real busybox containers)', () => {
  let n: TestNode;
  let monitor = 0;
  const fds = () => fs.readdirSync(`/proc/${monitor}/fd`);
  const listeners = () => seccompListeners(monitor);
  const log = () => `${n.root}/log/${CT}.console.log`;
  const size = (p: string) => (fs.existsSync(p) ? fs.statSync(p).size : 0);

  beforeAll(() => {
    n = new TestNode();
    n.ok('create', CT, '--ostemplate', 'busybox', '--ram', '128M', '--numproc', '400');
    n.ok('start', CT);
    monitor = monitorPid(n, CT);
  });
  afterAll(() => n?.cleanup());

  it('80 exec\'d commands that each leave a process behind: the next exec still sees the container\'s figures', () => {
    const base = fds().length;
    expect(listeners()).toBe(1); // init's
    const warned: string[] = [];
    try {
      for (let i = 0; i < 80; i++) {
        const r = n.vzctl('exec', CT, 'sh', '-c', 'sleep 600 </dev/null >/dev/null 2>&1 &');
        expect(r.code).toBe(0);
        if (r.stderr) warned.push(`exec ${i}: ${r.stderr.trim()}`);
      }
      expect(warned).toEqual([]);
      // One listener per tree that still has a process: init's and the 80 sleeps'.
      expect(listeners()).toBe(81);
      expect(fds().length).toBeLessThanOrEqual(base + 80 + 2);
      const free = n.vzctl('exec', CT, 'free', '-m');
      expect(free).toMatchObject({ code: 0, stderr: '' });
      expect(free.stdout).toMatch(/Mem:\s+128\s/);
    } finally {
      n.vzctl('exec', CT, 'killall', 'sleep');
    }
    // Once the trees are gone, their listeners are dropped: the fd count is back where it was.
    expect(waitFor(() => listeners() === 1, 5000)).toBe(true);
    expect(waitFor(() => fds().length === base, 5000)).toBe(true);
  }, 120_000);

  it('a console flood costs the monitor under 5% of a core; the log still rotates at 1 MiB; the console still works', () => {
    fs.rmSync(`${log()}.1`, { force: true });
    const line = 'flood-'.padEnd(100, 'x');
    n.ok('exec', CT, 'sh', '-c', `yes ${line} </dev/null >/dev/console 2>&1 &`);
    try {
      sleepMs(1000); // past any burst allowance
      const t0 = cpuTicks(monitor);
      const w0 = written(monitor);
      const start = Date.now();
      sleepMs(10_000);
      const secs = (Date.now() - start) / 1000;
      const share = (cpuTicks(monitor) - t0) / 100 / secs;
      const rate = (written(monitor) - w0) / secs;
      console.log(`monitor under a console flood: ${(share * 100).toFixed(1)}% of a core, ${Math.round(rate / 1024)} KiB/s logged`);
      expect(share).toBeLessThan(0.05);
      // The monitor takes 64 KiB/s from the console once its 256 KiB burst is spent.
      expect(rate).toBeLessThan(64 * 1024 * 1.2 + (256 * 1024) / 10);
      // Nothing is lost: the writer waits. The log rotates at 1 MiB as before.
      expect(waitFor(() => fs.existsSync(`${log()}.1`), 30_000)).toBe(true);
      expect(size(`${log()}.1`)).toBeGreaterThanOrEqual(1 << 20);
      expect(size(`${log()}.1`)).toBeLessThan((1 << 20) + 8192);
      expect(fs.readFileSync(`${log()}.1`, 'utf8')).toContain(line);
    } finally {
      n.vzctl('exec', CT, 'killall', 'yes');
    }
    // What the flood left in the pty drains; then the console answers as before.
    let last = -1;
    waitFor(() => {
      const s = size(log());
      const still = s === last;
      last = s;
      if (!still) sleepMs(1000);
      return still;
    }, 30_000);
    const con = n.run('vzctl', ['console', CT], { input: 'echo after-flood-$((6*7))\n', timeout: 15_000 });
    expect(con.code).toBe(0);
    expect(con.stdout).toContain('after-flood-42');
  }, 120_000);

  /** Installs /siloop in the container: a static binary (the busybox container has no libc). */
  const installLoop = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-siloop-'));
    try {
      fs.writeFileSync(
        `${dir}/siloop.c`,
        `#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sysinfo.h>
#include <time.h>
static long calls;
static void *loop(void *a) { struct sysinfo si; for (;;) { sysinfo(&si); __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED); } return a; }
int main(int argc, char **argv) {
  int secs = atoi(argv[1]), threads = atoi(argv[2]); pthread_t t;
  for (int i = 0; i < threads; i++) pthread_create(&t, NULL, loop, NULL);
  struct timespec ts = { secs, 0 }; nanosleep(&ts, NULL);
  printf("%ld\\n", __atomic_load_n(&calls, __ATOMIC_RELAXED) / secs); return 0; }
`,
      );
      const cc = spawnSync('cc', ['-O2', '-static', '-pthread', '-o', `${dir}/siloop`, `${dir}/siloop.c`], { encoding: 'utf8' });
      expect(cc.stderr).toBe('');
      fs.copyFileSync(`${dir}/siloop`, `${n.root}/root/${CT}/siloop`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  /** Runs /siloop for 10 s: calls per second, and the monitor's share of a core meanwhile. */
  const sysinfoLoop = (threads: number) => {
    const t0 = cpuTicks(monitor);
    const start = Date.now();
    const r = n.vzctl('exec', CT, '/siloop', '10', String(threads));
    const share = (cpuTicks(monitor) - t0) / 100 / ((Date.now() - start) / 1000);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    return { calls: Number(r.stdout), share };
  };

  it('sysinfo(2) in a loop from 4 threads costs the monitor under 5% of a core; the callers still get answers', () => {
    installLoop();
    const { calls, share } = sysinfoLoop(4);
    console.log(`monitor CPU under a sysinfo loop: ${(share * 100).toFixed(1)}% of a core, ${calls} calls/s`);
    expect(calls).toBeGreaterThan(500);
    expect(share).toBeLessThan(0.05);
    const free = n.vzctl('exec', CT, 'free', '-m');
    expect(free.stdout).toMatch(/Mem:\s+128\s/);
  }, 60_000);

  it('2000 sub-cgroups made inside do not make each sysinfo answer cost a walk of them all', () => {
    // The monitor counts the tasks of the container's memory cgroup subtree (v1: every tasks
    // file), and the container's root may make sub-cgroups there.
    installLoop();
    const made = n.vzctl('exec', CT, 'sh', '-c',
      'mkdir -p /tmp/cg && (mount -t cgroup -o memory none /tmp/cg 2>/dev/null || mount -t cgroup2 none /tmp/cg) && ' +
      'i=0; while [ $i -lt 2000 ]; do mkdir /tmp/cg/c$i || break; i=$((i+1)); done; echo $i');
    try {
      expect(made.stdout.trim()).toBe('2000');
      const { calls, share } = sysinfoLoop(4);
      console.log(`monitor CPU under a sysinfo loop with 2000 sub-cgroups: ${(share * 100).toFixed(1)}% of a core, ${calls} calls/s`);
      expect(calls).toBeGreaterThan(500);
      expect(share).toBeLessThan(0.1);
    } finally {
      n.vzctl('exec', CT, 'sh', '-c', 'rmdir /tmp/cg/c* 2>/dev/null; umount /tmp/cg');
    }
    expect(n.vzctl('exec', CT, 'free', '-m').stdout).toMatch(/Mem:\s+128\s/);
  }, 120_000);

  it('at the cap (RLIMIT_NOFILE 100: 36 listeners) a new exec warns once and runs; the trees before keep their answers; a freed slot is used again', () => {
    // A second container whose monitor inherits a low fd limit from the start command.
    const ct = '502';
    n.ok('create', ct, '--ostemplate', 'busybox', '--ram', '96M', '--numproc', '400');
    const st = spawnSync('sh', ['-c', 'ulimit -n 100 && exec "$0" start 502', path.join(REPO, 'dist', 'vzctl')], { env: n.env, encoding: 'utf8' });
    expect(st.status).toBe(0);
    const mon = monitorPid(n, ct);
    const warned: number[] = [];
    // The first tree waits for a signal file, then asks sysinfo: after the cap was reached.
    const late = `${n.root}/root/${ct}/tmp/late-free`;
    for (let i = 0; i < 37; i++) {
      const cmd = i === 0 ? '(while [ ! -e /tmp/go ]; do sleep 1; done; free -m >/tmp/late-free) </dev/null >/dev/null 2>&1 &' : 'sleep 600 </dev/null >/dev/null 2>&1 &';
      const r = n.vzctl('exec', ct, 'sh', '-c', cmd);
      expect(r.code).toBe(0);
      if (r.stderr) warned.push(i);
    }
    expect(seccompListeners(mon)).toBe(36); // init's and 35 trees
    expect(warned).toEqual([35, 36]);
    const over = n.vzctl('exec', ct, 'free', '-m');
    expect(over.code).toBe(0);
    expect(over.stderr).toMatch(/^ctspawn: sysinfo: .*host's figures\)\n$/);
    expect(over.stdout).not.toMatch(/Mem:\s+96\s/); // the host's figures: said on stderr above
    const mlog = fs.readFileSync(`${n.root}/log/${ct}.monitor.log`, 'utf8');
    expect(mlog.match(/listeners in use/g)).toHaveLength(1);
    // A tree registered before the cap is still answered from the container's cgroup.
    expect(n.vzctl('exec', ct, 'touch', '/tmp/go').code).toBe(0);
    expect(waitFor(() => fs.existsSync(late) && fs.statSync(late).size > 0, 5000)).toBe(true);
    expect(fs.readFileSync(late, 'utf8')).toMatch(/Mem:\s+96\s/);
    // Once a tree ends, its slot serves the next exec.
    expect(waitFor(() => seccompListeners(mon) === 35, 5000)).toBe(true);
    const again = n.vzctl('exec', ct, 'free', '-m');
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(again.stdout).toMatch(/Mem:\s+96\s/);
    n.ok('stop', ct);
  }, 120_000);
});
