/**
 * Real cgroup v1 (legacy or hybrid host), as root. Every test uses its own node `t<random>`
 * and afterEach kills what it spawned and removes that node in every hierarchy, even on failure.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCgroupManager, DEFAULT_DEVICE_RULES, detectCgroupVersion, listNodeCgroups, removeNodeCgroups, type CgroupManager } from '../../../src/cgroup/index.js';
import { discoverHierarchies } from '../../../src/cgroup/v1/hierarchy.js';

const ROOT = '/sys/fs/cgroup';
const isRoot = process.getuid?.() === 0;
const hierarchies = isRoot && existsSync(ROOT) && detectCgroupVersion(ROOT) === 1 ? discoverHierarchies(ROOT) : undefined;
const usable = !!hierarchies && !hierarchies.fake && ['memory', 'pids', 'freezer', 'cpuset'].every((c) => hierarchies.list.some((h) => h.controllers.includes(c)));

const M = 2 ** 20;
const nodes: string[] = [];
const children: ChildProcess[] = [];

function mount(controller: string): string {
  const h = hierarchies!.list.find((x) => x.controllers.includes(controller));
  if (!h) throw new Error(`${controller} not mounted`);
  return h.mount;
}
const file = (controller: string, node: string, rel: string): string => readFileSync(join(mount(controller), node, rel), 'utf8').trim();

function manager(ctid = 101): { node: string; cg: CgroupManager } {
  const node = 't' + Math.random().toString(36).slice(2, 10);
  nodes.push(node);
  return { node, cg: createCgroupManager({ node, ctid }) };
}

/** A child that sits on stdin; each line it gets runs as a shell command (output comes back per line). */
async function child(): Promise<ChildProcess & { run(cmd: string): Promise<string> }> {
  const c = spawn('sh', ['-c', 'while read -r cmd; do eval "$cmd"; done'], { stdio: ['pipe', 'pipe', 'ignore'] });
  children.push(c);
  await new Promise((r, j) => c.once('spawn', r).once('error', j));
  return Object.assign(c, {
    run: (cmd: string) =>
      new Promise<string>((r) => {
        c.stdout!.once('data', (d: Buffer) => r(d.toString().trim()));
        c.stdin!.write(cmd + '\n');
      }),
  });
}

const procState = (pid: number): string => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0]!;
const exited = (c: ChildProcess): Promise<NodeJS.Signals | null> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.signalCode) : new Promise((r) => c.once('exit', (_c, s) => r(s)));

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const node of nodes.splice(0)) {
    // A failed test may leave tasks (or a frozen cgroup): destroy kills, thaws and removes.
    for (const ctid of listNodeCgroups(node)) {
      try {
        createCgroupManager({ node, ctid }).destroy();
      } catch {
        // removeNodeCgroups below reports what is left
      }
    }
    expect(removeNodeCgroups(node)).toEqual([]);
    for (const h of hierarchies!.list) expect(existsSync(join(h.mount, node)), h.mount).toBe(false);
  }
});

describe.skipIf(!usable)('cgroup v1 on this host (root)', () => {
  it('creates the CT cgroup in every hierarchy with cpuset copied', () => {
    const { node, cg } = manager();
    cg.create();
    for (const h of hierarchies!.list) expect(existsSync(join(h.mount, node, '101')), h.name).toBe(true);
    expect(file('cpuset', node, 'cpuset.cpus')).toBe(readFileSync(join(mount('cpuset'), 'cpuset.cpus'), 'utf8').trim());
    expect(file('cpuset', node, '101/cpuset.cpus')).toBe(file('cpuset', node, 'cpuset.cpus'));
    expect(file('cpuset', node, '101/cpuset.mems')).not.toBe('');
    expect(listNodeCgroups(node)).toEqual([101]);
    cg.create(); // idempotent
  });

  it('adds a process, limits it, reads stats, freezes, thaws and destroys', async () => {
    const { node, cg } = manager();
    cg.create();
    const c = await child();
    cg.addProcess(c.pid!);
    const own = readFileSync(`/proc/${c.pid}/cgroup`, 'utf8');
    for (const h of hierarchies!.list) {
      const key = h.name === 'unified' ? '0::' : `:${h.name}:`;
      expect(own.split('\n').find((l) => l.includes(key)), h.name).toMatch(new RegExp(`/${node}/101$`));
    }
    expect(cg.pids()).toEqual([c.pid]);

    cg.apply({ memoryMax: 64 * M, memorySwapMax: 0, pidsMax: 10 });
    expect(file('memory', node, '101/memory.limit_in_bytes')).toBe(String(64 * M));
    expect(file('pids', node, '101/pids.max')).toBe('10');
    if (existsSync(join(mount('memory'), node, '101/memory.memsw.limit_in_bytes'))) {
      expect(file('memory', node, '101/memory.memsw.limit_in_bytes')).toBe(String(64 * M));
      cg.apply({ memoryMax: 128 * M, memorySwapMax: 32 * M }); // raise: memsw first
      expect(file('memory', node, '101/memory.memsw.limit_in_bytes')).toBe(String(160 * M));
      cg.apply({ memoryMax: 32 * M }); // lower, swap kept: RAM first
      expect(file('memory', node, '101/memory.limit_in_bytes')).toBe(String(32 * M));
      expect(file('memory', node, '101/memory.memsw.limit_in_bytes')).toBe(String(64 * M));
    }
    cg.apply({ memoryMax: null, pidsMax: null });
    expect(Number(file('memory', node, '101/memory.limit_in_bytes'))).toBeGreaterThan(2 ** 62);
    expect(file('pids', node, '101/pids.max')).toBe('max');

    await c.run('x=0; while [ $x -lt 20000 ]; do x=$((x+1)); done; echo spun');
    const s = cg.stats();
    expect(s.pidsCurrent).toBe(1);
    expect(s.cpuUsageUs).toBeGreaterThan(0);
    expect(s.memoryCurrent).toBeGreaterThanOrEqual(0);
    expect(s.oomKills).toBe(0);

    cg.freeze();
    expect(file('freezer', node, '101/freezer.state')).toBe('FROZEN');
    expect(procState(c.pid!)).toBe('D'); // frozen tasks show as D on this kernel
    cg.thaw();
    expect(file('freezer', node, '101/freezer.state')).toBe('THAWED');
    expect(await c.run('echo alive')).toBe('alive');

    const t = Date.now();
    cg.destroy();
    const took = Date.now() - t;
    expect(await exited(c)).toBe('SIGKILL');
    for (const d of cg.dirs()) expect(existsSync(d), d).toBe(false);
    expect(cg.exists()).toBe(false);
    expect(listNodeCgroups(node)).toEqual([]);
    expect(took).toBeLessThan(2000);
    cg.destroy(); // idempotent
  });

  it('memory allocated after joining is charged, and a limit below it is refused with EBUSY', async () => {
    const { node, cg } = manager();
    cg.create();
    const c = await child();
    cg.addProcess(c.pid!);
    // 32 MiB of anon memory in a variable of the shell, allocated after the move
    await c.run('big=$(head -c 33554432 /dev/zero | tr "\\0" x); echo ok');
    expect(cg.stats().memoryCurrent).toBeGreaterThan(32 * M);
    expect(() => cg.apply({ memoryMax: M })).toThrow(
      expect.objectContaining({ code: 'INVALID', message: expect.stringMatching(/^memory limit 1M refused by the kernel: EBUSY/) }),
    );
    expect(Number(file('memory', node, '101/memory.limit_in_bytes'))).toBeGreaterThan(2 ** 62); // unchanged
    cg.destroy();
  });

  it('pids.max stops forks and counts them in pidsFailcnt', async () => {
    const { cg } = manager();
    cg.create();
    const c = await child();
    cg.addProcess(c.pid!);
    // Room for the shell and one child sh; that child's own fork must fail. (A failed fork
    // makes a non-interactive sh exit, so the outer shell must not be the one that fails.)
    const probe = `sh -c '(true); true' 2>/dev/null && echo forked || echo refused`;
    cg.apply({ pidsMax: 2 });
    expect(await c.run(probe)).toBe('refused');
    expect(cg.stats().pidsFailcnt).toBeGreaterThanOrEqual(1);
    cg.apply({ pidsMax: null });
    expect(await c.run(probe)).toBe('forked');
    cg.destroy();
  });

  it('destroy kills a process tree spread over sub-cgroups the container made', async () => {
    const { node, cg } = manager();
    cg.create();
    const c = await child();
    cg.addProcess(c.pid!);
    // what a systemd inside would do: its own sub-cgroups, processes moved into them
    for (const sub of ['init.scope', 'system.slice/cron.service']) {
      for (const h of hierarchies!.list) mkdirSync(join(h.mount, node, '101', sub), { recursive: true });
    }
    const pid2 = Number(await c.run('sleep 1000 & echo $!'));
    for (const c2 of ['memory', 'pids', 'freezer']) writeFileSync(join(mount(c2), node, '101/system.slice/cron.service/cgroup.procs'), String(pid2));
    expect(cg.pids()).toEqual([c.pid!, pid2].sort((a, b) => a - b));
    cg.destroy();
    expect(await exited(c)).toBe('SIGKILL');
    expect(existsSync(`/proc/${pid2}`) && procState(pid2) !== 'Z').toBe(false);
    for (const d of cg.dirs()) expect(existsSync(d), d).toBe(false);
  });

  it('cpu, cpuset, blkio and device rules land in the kernel files', async () => {
    const { node, cg } = manager();
    cg.create();
    cg.apply({ cpuWeight: 100, cpuMax: { quotaUs: 50000, periodUs: 100000 }, cpus: '0' });
    expect(file('cpu', node, '101/cpu.shares')).toBe('1024');
    expect(file('cpu', node, '101/cpu.cfs_quota_us')).toBe('50000');
    expect(file('cpu', node, '101/cpu.cfs_period_us')).toBe('100000');
    expect(file('cpuset', node, '101/cpuset.cpus')).toBe('0');
    cg.apply({ cpuMax: null });
    expect(file('cpu', node, '101/cpu.cfs_quota_us')).toBe('-1');
    expect(() => cg.apply({ cpus: '4095' })).toThrow(expect.objectContaining({ code: 'INVALID' }));

    const dev = readFileSync('/proc/self/mountinfo', 'utf8').match(/ (\d+):(\d+) \/ \/ /);
    if (dev && existsSync(join(mount('blkio'), node))) {
      const [major, minor] = [Number(dev[1]), Number(dev[2])];
      const blockDev = existsSync(`/sys/dev/block/${major}:${minor}`);
      if (blockDev) {
        cg.apply({ io: [{ major, minor, rbps: 10 * M }] });
        expect(file('blkio', node, '101/blkio.throttle.read_bps_device')).toBe(`${major}:${minor} ${10 * M}`);
        cg.apply({ io: [{ major, minor, rbps: null }] });
        expect(file('blkio', node, '101/blkio.throttle.read_bps_device')).toBe('');
      }
    }
    if (hierarchies!.list.some((h) => h.controllers.includes('devices'))) {
      cg.apply({ devices: DEFAULT_DEVICE_RULES });
      const list = file('devices', node, '101/devices.list').split('\n');
      expect(list).toContain('c 1:3 rwm');
      expect(list).not.toContain('a *:* rwm');
      const c = await child();
      cg.addProcess(c.pid!);
      expect(await c.run('echo hi > /dev/null && echo null-ok')).toBe('null-ok');
      expect(await c.run('head -c1 /dev/mem >/dev/null 2>&1 && echo mem-ok || echo mem-denied')).toBe('mem-denied');
    }
    cg.destroy();
  });
});
