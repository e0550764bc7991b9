/**
 * What a tenant can do to its container's monitor (native/monitor.c) from inside: keep the
 * process trees of exec'd commands alive so that their sysinfo(2) listeners pile up, and flood
 * the console so that the monitor burns host CPU outside the container's cgroup.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import { TestNode, isRoot, waitFor } from './harness.js';

const CT = '501';
const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe.skipIf(!isRoot)('monitor abuse (root, real busybox containers)', () => {
  let n: TestNode;
  let monitor = 0;
  const fds = () => fs.readdirSync(`/proc/${monitor}/fd`);
  const listeners = () =>
    fds().filter((f) => {
      try {
        return fs.readlinkSync(`/proc/${monitor}/fd/${f}`) === 'anon_inode:seccomp notify';
      } catch {
        return false; // closed meanwhile
      }
    }).length;
  /** utime + stime of the monitor, in clock ticks (USER_HZ, 100 on Linux). */
  const cpuTicks = () => {
    const stat = fs.readFileSync(`/proc/${monitor}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // fields 14 and 15
  };
  const log = () => `${n.root}/log/${CT}.console.log`;
  const size = (p: string) => (fs.existsSync(p) ? fs.statSync(p).size : 0);

  beforeAll(() => {
    n = new TestNode();
    n.ok('create', CT, '--ostemplate', 'busybox', '--ram', '128M', '--numproc', '400');
    n.ok('start', CT);
    monitor = Number(fs.readFileSync(`${n.root}/run/${CT}.pid`, 'utf8').trim().split(/\s+/)[0]);
  });
  afterAll(() => n?.cleanup());

  it('80 exec\'d commands that each leave a process behind: the next exec still sees the container\'s figures', () => {
    const base = fds().length;
    expect(listeners()).toBe(1); // init's
    const warned: string[] = [];
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
    // Once the trees are gone, their listeners are dropped: the fd count is back where it was.
    expect(n.vzctl('exec', CT, 'killall', 'sleep').code).toBe(0);
    expect(waitFor(() => listeners() === 1, 5000)).toBe(true);
    expect(waitFor(() => fds().length === base, 5000)).toBe(true);
  }, 120_000);

  it('a console flood costs the monitor under 5% of a core; the log still rotates at 1 MiB; the console still works', () => {
    fs.rmSync(`${log()}.1`, { force: true });
    const line = 'flood-'.padEnd(100, 'x');
    n.ok('exec', CT, 'sh', '-c', `yes ${line} </dev/null >/dev/console 2>&1 &`);
    try {
      sleepMs(1000); // past any burst allowance
      const t0 = cpuTicks();
      const start = Date.now();
      sleepMs(10_000);
      const share = (cpuTicks() - t0) / 100 / ((Date.now() - start) / 1000);
      console.log(`monitor CPU under a console flood: ${(share * 100).toFixed(1)}% of a core`);
      expect(share).toBeLessThan(0.05);
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
});
