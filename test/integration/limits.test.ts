/**
 * Resource limits for real, on cgroup v1 (these machines) and on v2 (the test VM runs this file
 * unchanged, test/vm/tests.sh): RAM with OOM kills inside the container, the process limit, CPU
 * quota and CPU count, I/O bandwidth, what the customer sees through LXCFS, live changes, and bad
 * values that change nothing. Only the cgroup files read back differ between the versions (`cg`).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { TestNode, isRoot } from './harness.js';

const v1 = fs.existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');
const v2 = !v1 && fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
const MiB = 2 ** 20;

describe.skipIf(!isRoot || !(v1 || v2))(`resource limits (root, real containers, cgroup ${v1 ? 'v1' : 'v2'})`, () => {
  let n: TestNode;
  let startedAt = 0;
  const read = (ctrl: string, file: string) =>
    fs.readFileSync(v1 ? `/sys/fs/cgroup/${ctrl}/${n.node}/401/${file}` : `/sys/fs/cgroup/${n.node}/401/${file}`, 'utf8').trim();
  /** The container's cgroup settings, read back from the files of the host's version. */
  const cg = {
    ram: () => Number(read('memory', v1 ? 'memory.limit_in_bytes' : 'memory.max')),
    // v1 limits RAM + swap together (memsw); v2 limits swap on its own.
    swap: () => (v1 ? Number(read('memory', 'memory.memsw.limit_in_bytes')) - cg.ram() : Number(read('memory', 'memory.swap.max'))),
    pids: () => read('pids', 'pids.max'),
    pidsNow: () => Number(read('pids', 'pids.current')),
    /** The CPU quota per 100 ms period in us, or 'max'. */
    cpuQuota: () => (v1 ? read('cpu', 'cpu.cfs_quota_us').replace(/^-1$/, 'max') : read('cpu', 'cpu.max').split(' ')[0]),
    /** cpuunits as the kernel has them: v1 cpu.shares (1024 = 1000 units), v2 cpu.weight (units / 10). */
    cpuWeight: () => Number(read('cpu', v1 ? 'cpu.shares' : 'cpu.weight')),
    cpuUsageNs: () => (v1 ? Number(read('cpuacct', 'cpuacct.usage')) : Number(/usage_usec (\d+)/.exec(read('cpu', 'cpu.stat'))![1]) * 1000),
    cpus: () => read('cpuset', v1 ? 'cpuset.cpus' : 'cpuset.cpus'),
  };
  const list = (fields: string) => JSON.parse(n.vzlist('-j', '-o', fields, '401').stdout)[0];
  beforeAll(() => {
    n = new TestNode();
    // --config unlimited: what is tested here is each limit on its own (no swap given = none).
    n.ok('create', '401', '--ostemplate', 'busybox', '--config', 'unlimited', '--ram', '64M', '--numproc', '64');
    startedAt = Date.now();
    n.ok('start', '401');
  });
  afterAll(() => n?.cleanup());

  it('applies the limits set at create when the container starts', () => {
    expect(cg.ram()).toBe(64 * MiB);
    expect(cg.swap()).toBe(0); // no swap given
    expect(cg.pids()).toBe('64');
    expect(list('ram,swap,numproc.l')).toEqual({ ram: 64 * 2 ** 20, swap: 0, 'numproc.l': 64 });
  });

  it('--ram 64M: a memory hog is OOM-killed inside, the container keeps running', () => {
    const before = list('oomkills').oomkills as number;
    const r = n.vzctl('exec', '401', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=200M', 'count=1');
    expect(r.code).toBe(137); // SIGKILL from the OOM killer
    expect(n.ok('status', '401').trim()).toBe('CTID 401 exist mounted running');
    expect(n.ok('exec', '401', 'cat', '/proc/1/comm').trim()).toBe('init');
    expect(list('oomkills').oomkills).toBeGreaterThan(before);
  });

  it('--numproc 64: a burst of 200 sleeps hits the limit, and exec still answers at once', () => {
    // "At once": no slower than an exec before the burst (the v2 VM's emulated CPUs make every exec slow).
    let t = Date.now();
    n.ok('exec', '401', 'true');
    const usual = Date.now() - t;
    // busybox sh gives up at its first refused fork ("can't fork"), with exit code 2.
    const burst = n.run('vzctl', ['exec', '401', 'sh', '-c', 'for i in $(seq 1 200); do sleep 60 >/dev/null 2>&1 & done'], {});
    expect(burst.code).not.toBe(0);
    expect(burst.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    expect(cg.pidsNow()).toBeLessThanOrEqual(64);
    expect(list('numproc.f')['numproc.f']).toBeGreaterThan(0);
    t = Date.now();
    expect(n.vzctl('exec', '401', 'true').code).toBe(0);
    expect(Date.now() - t).toBeLessThan(Math.max(1000, 3 * usual));
    expect(n.vzctl('exec', '401', 'killall', 'sleep').code).toBe(0);
  });

  it('--cpulimit 50: a busy loop gets about half a core', () => {
    n.ok('set', '401', '--cpulimit', '50', '--numproc', '1000', '--save');
    expect(cg.cpuQuota()).toBe('50000');
    const usage = cg.cpuUsageNs;
    n.vzctl('exec', '401', 'sh', '-c', '(while :; do :; done) >/dev/null 2>&1 & (while :; do :; done) >/dev/null 2>&1 &');
    const u0 = usage();
    const t0 = process.hrtime.bigint();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
    const cores = (usage() - u0) / Number(process.hrtime.bigint() - t0);
    n.vzctl('exec', '401', 'killall', 'sh');
    expect(cores).toBeGreaterThan(0.35);
    expect(cores).toBeLessThan(0.65);
  });

  it('--cpus 1: nproc and /proc/cpuinfo inside say 1', () => {
    n.ok('set', '401', '--cpus', '1', '--save');
    expect(cg.cpus()).toBe('0');
    expect(n.ok('exec', '401', 'nproc').trim()).toBe('1');
    expect(n.ok('exec', '401', 'grep', '-c', '^processor', '/proc/cpuinfo').trim()).toBe('1');
  });

  it('--ram 128M: /proc/meminfo, top and free inside show 128 MiB (LXCFS, sysinfo)', () => {
    n.ok('set', '401', '--ram', '128M', '--save');
    expect(cg.ram()).toBe(128 * MiB);
    const meminfo = n.ok('exec', '401', 'head', '-1', '/proc/meminfo');
    expect(meminfo).toMatch(/MemTotal:\s+131072 kB/);
    const top = n.ok('exec', '401', 'sh', '-c', 'top -bn1 | head -1');
    const [, used, free] = /Mem: (\d+)K used, (\d+)K free/.exec(top)!;
    expect(Math.round((Number(used) + Number(free)) / 1024)).toBe(128);
    // The container's own uptime (LXCFS), not the host's: no longer than it has been running.
    expect(Number(n.ok('exec', '401', 'cat', '/proc/uptime').split(' ')[0])).toBeLessThanOrEqual((Date.now() - startedAt) / 1000 + 2);
    // BusyBox free uses sysinfo(2): the monitor answers it for the container's own processes.
    const con = n.run('vzctl', ['console', '401'], { input: 'free -m\n', timeout: 15_000 });
    expect(con.stdout).toMatch(/Mem:\s+128\s/);
    expect(n.ok('exec', '401', 'free', '-m')).toMatch(/Mem:\s+128\s/); // exec'd processes too
  });

  it('changes every limit live, visible in the cgroup and in vzlist', () => {
    n.ok('set', '401', '--ram', '96M', '--swap', '32M', '--numproc', '100', '--cpulimit', '150', '--cpuunits', '2000', '--cpus', '2', '--save');
    expect(cg.ram()).toBe(96 * MiB);
    expect(cg.swap()).toBe(32 * MiB);
    expect(cg.pids()).toBe('100');
    expect(cg.cpuQuota()).toBe('150000');
    expect(cg.cpuWeight()).toBe(v1 ? 2048 : 200);
    expect(list('ram,swap,numproc.l,cpulimit,cpuunits,cpus')).toEqual({
      ram: 96 * 2 ** 20,
      swap: 32 * 2 ** 20,
      'numproc.l': 100,
      cpulimit: 150,
      cpuunits: 2000,
      cpus: 2,
    });
    n.ok('set', '401', '--cpulimit', 'unlimited', '--numproc', 'unlimited', '--save');
    expect(cg.cpuQuota()).toBe('max');
    expect(cg.pids()).toBe('max');
  });

  it('--iolimit caps the write bandwidth on the storage device, or says in one line that there is none', () => {
    // The v2 VM's tree is an overlay on tmpfs (no block device): vzctl applies nothing and says so.
    const dev = fs.statSync(n.dir).dev;
    if (Math.floor(dev / 256) === 0) { // major 0: overlay, tmpfs, 9p
      const w = n.vzctl('set', '401', '--iolimit', '2M', '--save');
      expect(w.code).toBe(0);
      expect(w.stderr).toMatch(/iolimit not applied: the private area .* is on no block device of its own/);
      expect(w.stderr.trim().split('\n')).toHaveLength(1);
      n.ok('set', '401', '--iolimit', '0', '--save');
      return;
    }
    n.ok('set', '401', '--iolimit', '2M', '--save');
    const t = Date.now();
    const r = n.vzctl('exec', '401', 'dd', 'if=/dev/zero', 'of=/root/io.test', 'bs=1M', 'count=6', 'oflag=direct');
    const s = (Date.now() - t) / 1000;
    expect(r.code).toBe(0);
    expect(s).toBeGreaterThan(1.5); // 6 MiB at 2 MiB/s, the first burst aside
    n.ok('set', '401', '--iolimit', '0', '--save');
    n.ok('exec', '401', 'rm', '-f', '/root/io.test');
  });

  it('refuses bad values with one line and exit 21, changing nothing', () => {
    const before = cg.ram();
    const cases: Array<[string[], RegExp]> = [
      [['--ram', '-5M'], /negative/],
      [['--ram', '64X'], /invalid size/],
      [['--cpulimit', '0'], /cpulimit/],
      [['--cpuunits', '7'], /cpuunits/],
      [['--cpuunits', '500001'], /cpuunits/],
      [['--numproc', '1'], /below/],
      [['--cpus', '999'], /CPU/],
      [['--cpumask', '0-999'], /cpumask|not online/],
      [['--ioprio', '9'], /ioprio/],
    ];
    for (const [args, msg] of cases) {
      const r = n.vzctl('set', '401', ...args, '--save');
      expect({ args, code: r.code }).toEqual({ args, code: 21 });
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(cg.ram()).toBe(before);
    expect(list('ram').ram).toBe(before);
  });

  it('a RAM limit below what the container uses is refused and the old one stays', () => {
    n.ok('set', '401', '--ram', '64M', '--swap', '0', '--save');
    // Pin ~40 MiB in tmpfs (not reclaimable without swap), then ask for 16M.
    n.ok('exec', '401', 'sh', '-c', 'mkdir -p /run/pin && mount -t tmpfs tmpfs /run/pin && dd if=/dev/zero of=/run/pin/x bs=1M count=40 2>/dev/null');
    const r = n.vzctl('set', '401', '--ram', '16M', '--save');
    expect(r.code).toBe(21);
    expect(r.stderr).toMatch(/refused|busy/i);
    expect(cg.ram()).toBe(64 * MiB);
    if (v2) expect(read('memory', 'memory.high')).toBe('max'); // the reclaim attempt's memory.high is undone too
    expect(list('ram').ram).toBe(64 * MiB);
    n.ok('exec', '401', 'sh', '-c', 'rm -f /run/pin/x; umount /run/pin');
  });

  it('allows only the /dev allow-list, and --devnodes adds and removes a host device', () => {
    if (v1) {
      const list = read('devices', 'devices.list').split('\n');
      expect(list).toContain('c 1:3 rwm'); // null
      expect(list).toContain('c 136:* rwm'); // pts
      expect(list).not.toContain('a *:* rwm');
    } else {
      // v2 has no list to read: the BPF program's verdicts, tried from inside.
      expect(n.vzctl('exec', '401', 'sh', '-c', 'echo x > /dev/null && head -c1 /dev/zero >/dev/null').code).toBe(0);
    }
    const img = `${n.dir}/loop.img`;
    fs.writeFileSync(img, Buffer.alloc(1 << 20));
    const loop = spawnSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).stdout.trim();
    expect(loop).toMatch(/^\/dev\/loop\d+$/);
    const name = loop.slice(5);
    try {
      n.ok('set', '401', '--devnodes', `${name}:r`, '--save');
      n.ok('restart', '401', '--fast');
      expect(n.vzctl('exec', '401', 'dd', `if=/dev/${name}`, 'of=/dev/null', 'bs=4k', 'count=1').code).toBe(0);
      expect(n.vzctl('exec', '401', 'dd', 'if=/dev/zero', `of=/dev/${name}`, 'bs=4k', 'count=1').code).not.toBe(0);
      n.ok('set', '401', '--devnodes', `${name}:none`, '--save'); // live: the cgroup denies it at once
      const r = n.vzctl('exec', '401', 'dd', `if=/dev/${name}`, 'of=/dev/null', 'bs=4k', 'count=1');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/not permitted/);
      expect(n.vzctl('set', '401', '--devnodes', 'nosuchdev:rw', '--save').code).toBe(21);
      expect(n.vzctl('set', '401', '--devnodes', '../etc/passwd:rw', '--save').code).toBe(21);
    } finally {
      n.vzctl('stop', '401', '--fast');
      spawnSync('losetup', ['-d', loop]);
    }
    n.ok('start', '401');
  });

  it('--ioprio sets the best-effort I/O priority of every task, live', () => {
    n.ok('set', '401', '--ioprio', '1', '--save');
    const init = JSON.parse(n.vzlist('-j', '-o', 'init_pid', '401').stdout)[0].init_pid;
    expect(spawnSync('ionice', ['-p', String(init)], { encoding: 'utf8' }).stdout.trim()).toBe('best-effort: prio 1');
  });

  it('reports a load average for the container (vzlist laverage), sampled by its monitor', () => {
    n.vzctl('exec', '401', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do timeout 20 yes >/dev/null 2>&1 & done');
    let la: string | null = null;
    const end = Date.now() + 15_000;
    while (Date.now() < end) {
      la = JSON.parse(n.vzlist('-j', '-o', 'laverage', '401').stdout)[0].laverage;
      if (la && Number(la.split('/')[0]) > 0.3) break;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
    n.vzctl('exec', '401', 'killall', 'yes');
    expect(la).toMatch(/^\d+\.\d\d\/\d+\.\d\d\/\d+\.\d\d$/);
    expect(Number(la!.split('/')[0])).toBeGreaterThan(0.3);
  });
});
