import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCgroupManager, DEFAULT_DEVICE_RULES, listNodeCgroups, removeNodeCgroups } from '../../../src/cgroup/index.js';
import { observeWrites } from '../../../src/cgroup/cgfs.js';
import { VzError } from '../../../src/base/errors.js';
import { fakeV1, has, put, read, recordWrites, MEMORY_STAT_V1, UNLIMITED_V1 } from '../../support/fake-cgroupfs.js';

const HIERARCHIES = ['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids', 'systemd', 'unified'];
const M = 2 ** 20;

function setup(opts: { without?: string[] } = {}) {
  const root = fakeV1(opts);
  const cg = createCgroupManager({ node: 'vz', ctid: 101, fsRoot: root, waitMs: 100 });
  expect(cg.version).toBe(1);
  cg.create();
  return { root, cg };
}

describe('v1 create', () => {
  it('makes <node>/<ctid> in every hierarchy, named and unified included', () => {
    const { root, cg } = setup();
    for (const h of HIERARCHIES) expect(has(root, `${h}/vz/101`), h).toBe(true);
    expect(cg.dirs().sort()).toEqual(HIERARCHIES.map((h) => join(root, h, 'vz/101')));
    expect(cg.procsFiles().sort()).toEqual(HIERARCHIES.map((h) => join(root, h, 'vz/101/cgroup.procs')));
    expect(cg.exists()).toBe(true);
  });

  it('copies cpuset.cpus and cpuset.mems from the parent into the node dir and the CT dir', () => {
    const root = fakeV1();
    const log = recordWrites(root);
    createCgroupManager({ node: 'vz', ctid: 101, fsRoot: root }).create();
    expect(log.filter(([f]) => f.startsWith('cpuset/'))).toEqual([
      ['cpuset/vz/cpuset.cpus', '0-1'],
      ['cpuset/vz/cpuset.mems', '0'],
      ['cpuset/vz/101/cpuset.cpus', '0-1'],
      ['cpuset/vz/101/cpuset.mems', '0'],
    ]);
    expect(read(root, 'cpuset/vz/101/cpuset.cpus')).toBe('0-1');
  });

  it('keeps a cpuset already set on the node, sets memory.use_hierarchy on new dirs', () => {
    const root = fakeV1();
    createCgroupManager({ node: 'vz', ctid: 101, fsRoot: root }).create();
    put(root, 'cpuset/vz/cpuset.cpus', '1\n');
    const log = recordWrites(root);
    createCgroupManager({ node: 'vz', ctid: 102, fsRoot: root }).create();
    expect(log.filter(([f]) => f.startsWith('cpuset/'))).toEqual([
      ['cpuset/vz/102/cpuset.cpus', '1'],
      ['cpuset/vz/102/cpuset.mems', '0'],
    ]);
    expect(log).toContainEqual(['memory/vz/102/memory.use_hierarchy', '1']);
    expect(log.some(([f]) => f === 'memory/vz/memory.use_hierarchy')).toBe(false); // node existed already
  });

  it('is idempotent', () => {
    const { root, cg } = setup();
    put(root, 'memory/vz/101/memory.limit_in_bytes', '1048576');
    cg.create();
    expect(read(root, 'memory/vz/101/memory.limit_in_bytes')).toBe('1048576');
  });

  it('supports nested node names and rejects bad ones', () => {
    const root = fakeV1();
    createCgroupManager({ node: 'machine/vz', ctid: 7, fsRoot: root }).create();
    expect(read(root, 'cpuset/machine/vz/7/cpuset.cpus')).toBe('0-1');
    for (const node of ['../x', '/abs', 'a//b', '', 'a/./b']) {
      expect(() => createCgroupManager({ node, ctid: 1, fsRoot: root }), node).toThrow(/bad cgroup node name/);
    }
    expect(() => createCgroupManager({ node: 'vz', ctid: 0, fsRoot: root })).toThrow(/bad container id/);
  });
});

describe('v1 addProcess / pids', () => {
  it('writes the pid into cgroup.procs of every hierarchy', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    cg.addProcess(4242);
    expect(log.map(([f]) => f.split('/')[0]).sort()).toEqual(HIERARCHIES);
    expect(new Set(log.map(([, v]) => v))).toEqual(new Set(['4242']));
  });

  it('pids() lists the memory hierarchy including sub-cgroups', () => {
    const { root, cg } = setup();
    put(root, 'memory/vz/101/cgroup.procs', '10\n12\n');
    mkdirSync(join(root, 'memory/vz/101/init.scope'));
    put(root, 'memory/vz/101/init.scope/cgroup.procs', '11\n');
    put(root, 'pids/vz/101/cgroup.procs', '99\n'); // other hierarchies are not consulted
    expect(cg.pids()).toEqual([10, 11, 12]);
  });
});

describe('v1 apply: memory', () => {
  function withLimits(mem: string, memsw: string) {
    const s = setup();
    put(s.root, 'memory/vz/101/memory.limit_in_bytes', mem);
    put(s.root, 'memory/vz/101/memory.memsw.limit_in_bytes', memsw);
    return { ...s, log: recordWrites(s.root) };
  }

  it('from unlimited is a lowering: RAM first, then memsw = RAM + swap', () => {
    const { cg, log } = withLimits(UNLIMITED_V1, UNLIMITED_V1);
    cg.apply({ memoryMax: 512 * M, memorySwapMax: 256 * M });
    expect(log).toEqual([
      ['memory/vz/101/memory.limit_in_bytes', String(512 * M)],
      ['memory/vz/101/memory.memsw.limit_in_bytes', String(768 * M)],
    ]);
  });

  it('lowering: RAM first, then memsw', () => {
    const { cg, log } = withLimits(String(1024 * M), String(2048 * M));
    cg.apply({ memoryMax: 256 * M, memorySwapMax: 128 * M });
    expect(log).toEqual([
      ['memory/vz/101/memory.limit_in_bytes', String(256 * M)],
      ['memory/vz/101/memory.memsw.limit_in_bytes', String(384 * M)],
    ]);
  });

  it('raising: memsw first, then RAM', () => {
    const { cg, log } = withLimits(String(256 * M), String(384 * M));
    cg.apply({ memoryMax: 1024 * M, memorySwapMax: 0 });
    expect(log).toEqual([
      ['memory/vz/101/memory.memsw.limit_in_bytes', String(1024 * M)],
      ['memory/vz/101/memory.limit_in_bytes', String(1024 * M)],
    ]);
  });

  it('RAM only keeps the current swap amount', () => {
    const { cg, log } = withLimits(String(256 * M), String(384 * M)); // 128M swap
    cg.apply({ memoryMax: 512 * M });
    expect(log).toEqual([
      ['memory/vz/101/memory.memsw.limit_in_bytes', String(640 * M)],
      ['memory/vz/101/memory.limit_in_bytes', String(512 * M)],
    ]);
  });

  it('swap only keeps RAM and writes memsw alone', () => {
    const { cg, log } = withLimits(String(256 * M), String(384 * M));
    cg.apply({ memorySwapMax: 0 });
    expect(log).toEqual([['memory/vz/101/memory.memsw.limit_in_bytes', String(256 * M)]]);
  });

  it('unlimited is -1 for both; RAM unlimited forces memsw unlimited', () => {
    const { cg, log } = withLimits(String(256 * M), String(384 * M));
    cg.apply({ memoryMax: null });
    expect(log).toEqual([
      ['memory/vz/101/memory.memsw.limit_in_bytes', '-1'],
      ['memory/vz/101/memory.limit_in_bytes', '-1'],
    ]);
  });

  it('a swap limit without a RAM limit cannot be expressed: memsw stays unlimited', () => {
    const { cg, log } = withLimits(UNLIMITED_V1, UNLIMITED_V1);
    cg.apply({ memorySwapMax: 64 * M });
    expect(log).toEqual([['memory/vz/101/memory.memsw.limit_in_bytes', '-1']]);
  });

  it('without swap accounting only memory.limit_in_bytes is written', () => {
    const { root, cg } = setup();
    rmSync(join(root, 'memory/vz/101/memory.memsw.limit_in_bytes'));
    const log = recordWrites(root);
    cg.apply({ memoryMax: 64 * M, memorySwapMax: 0 });
    expect(log).toEqual([['memory/vz/101/memory.limit_in_bytes', String(64 * M)]]);
  });

  it('rejects negative and fractional byte counts before touching the kernel', () => {
    const { cg, log } = withLimits(UNLIMITED_V1, UNLIMITED_V1);
    expect(() => cg.apply({ memoryMax: -1 })).toThrow(/memory limit -1 is not a non-negative integer/);
    expect(() => cg.apply({ memorySwapMax: 1.5 })).toThrow(VzError);
    expect(log).toEqual([]);
  });
});

describe('v1 apply: cpu, cpuset, pids, blkio, devices', () => {
  it('converts weight to cpu.shares and writes period before quota', () => {
    const { root, cg } = setup();
    const l = recordWrites(root);
    cg.apply({ cpuWeight: 100, cpuMax: { quotaUs: 50000, periodUs: 100000 } });
    expect(l).toEqual([
      ['cpu/vz/101/cpu.shares', '1024'],
      ['cpu/vz/101/cpu.cfs_period_us', '100000'],
      ['cpu/vz/101/cpu.cfs_quota_us', '50000'],
    ]);
    l.length = 0;
    cg.apply({ cpuMax: null, cpuWeight: 10000 });
    expect(l).toEqual([
      ['cpu/vz/101/cpu.shares', '102400'],
      ['cpu/vz/101/cpu.cfs_quota_us', '-1'],
    ]);
  });

  it('writes cpuset.cpus, pids.max and "max" for unlimited pids', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    cg.apply({ cpus: '1', pidsMax: 100 });
    cg.apply({ pidsMax: null });
    expect(log).toEqual([
      ['cpuset/vz/101/cpuset.cpus', '1'],
      ['pids/vz/101/pids.max', '100'],
      ['pids/vz/101/pids.max', 'max'],
    ]);
  });

  it('writes one "MAJ:MIN VALUE" per blkio throttle file, 0 to remove', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    cg.apply({ io: [{ major: 8, minor: 0, rbps: 10 * M, wiops: 100 }, { major: 254, minor: 16, wbps: null, riops: 5 }] });
    expect(log).toEqual([
      ['blkio/vz/101/blkio.throttle.read_bps_device', `8:0 ${10 * M}`],
      ['blkio/vz/101/blkio.throttle.write_iops_device', '8:0 100'],
      ['blkio/vz/101/blkio.throttle.write_bps_device', '254:16 0'],
      ['blkio/vz/101/blkio.throttle.read_iops_device', '254:16 5'],
    ]);
  });

  it('writes device rules in order to devices.deny / devices.allow', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    cg.apply({ devices: DEFAULT_DEVICE_RULES });
    expect(log[0]).toEqual(['devices/vz/101/devices.deny', 'a']);
    expect(log[1]).toEqual(['devices/vz/101/devices.allow', 'c *:* m']);
    expect(log).toContainEqual(['devices/vz/101/devices.allow', 'c 1:3 rwm']);
    expect(log).toContainEqual(['devices/vz/101/devices.allow', 'c 136:* rwm']);
    expect(log).toHaveLength(DEFAULT_DEVICE_RULES.length);
  });

  it('applies cpuset before memory before cpu before pids', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    cg.apply({ pidsMax: 5, cpuWeight: 1, memoryMax: M, cpus: '0' });
    expect(log.map(([f]) => f.split('/')[0])).toEqual(['cpuset', 'memory', 'cpu', 'pids']);
  });

  it('a limit for a controller that is not mounted is UNSUPPORTED', () => {
    const { cg } = setup({ without: ['pids'] });
    expect(() => cg.apply({ pidsMax: 5 })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
    cg.apply({ memoryMax: M }); // others still work
  });

  it('a missing control file is reported with its path', () => {
    const { root, cg } = setup();
    rmSync(join(root, 'cpu/vz/101/cpu.shares'));
    expect(() => cg.apply({ cpuWeight: 50 })).toThrow(/cpu.shares does not exist/);
  });
});

describe('v1 stats', () => {
  it('parses the memory, pids and cpuacct files', () => {
    const { root, cg } = setup();
    put(root, 'memory/vz/101/memory.usage_in_bytes', '10485760\n');
    put(root, 'memory/vz/101/memory.memsw.usage_in_bytes', '12582912\n');
    put(root, 'memory/vz/101/memory.stat', MEMORY_STAT_V1);
    put(root, 'memory/vz/101/memory.failcnt', '3\n');
    put(root, 'memory/vz/101/memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    put(root, 'pids/vz/101/pids.current', '7\n');
    put(root, 'pids/vz/101/pids.events', 'max 4\n');
    put(root, 'cpuacct/vz/101/cpuacct.usage', '1234567890\n');
    expect(cg.stats()).toEqual({
      memoryCurrent: 10 * M,
      memoryCache: 4096, // total_cache, not cache: sub-cgroups count
      swapCurrent: 2 * M,
      memoryFailcnt: 3,
      oomKills: 2,
      pidsCurrent: 7,
      pidsFailcnt: 4,
      cpuUsageUs: 1234567,
    });
  });

  it('without a pids hierarchy counts cgroup.procs', () => {
    const { root, cg } = setup({ without: ['pids'] });
    put(root, 'memory/vz/101/cgroup.procs', '5\n6\n');
    expect(cg.stats().pidsCurrent).toBe(2);
  });
});

describe('v1 freeze / thaw', () => {
  it('writes FROZEN and THAWED to freezer.state', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    cg.freeze();
    cg.thaw();
    expect(log).toEqual([
      ['freezer/vz/101/freezer.state', 'FROZEN'],
      ['freezer/vz/101/freezer.state', 'THAWED'],
    ]);
  });

  it('keeps asking while FREEZING, then times out with SYSTEM and thaws again', () => {
    const { root, cg } = setup();
    const log: string[] = [];
    observeWrites((file, v) => {
      log.push(v);
      if (v === 'FROZEN') writeFileSync(file, 'FREEZING\n'); // a task that never freezes
    });
    const t = Date.now();
    expect(() => cg.freeze()).toThrow(expect.objectContaining({ code: 'SYSTEM', message: expect.stringMatching(/still FREEZING after 100 ms/) }));
    expect(Date.now() - t).toBeGreaterThanOrEqual(90);
    expect(log.filter((v) => v === 'FROZEN').length).toBeGreaterThan(2);
    expect(log.at(-1)).toBe('THAWED');
    expect(read(root, 'freezer/vz/101/freezer.state')).toBe('THAWED');
  });
});

describe('v1 destroy', () => {
  it('removes sub-cgroups made inside the container, deepest first, in every hierarchy', () => {
    const { root, cg } = setup();
    for (const d of ['systemd/vz/101/system.slice/cron.service', 'systemd/vz/101/init.scope', 'memory/vz/101/a/b/c']) {
      mkdirSync(join(root, d), { recursive: true });
      put(root, d + '/cgroup.procs', '');
    }
    cg.destroy();
    for (const h of HIERARCHIES) {
      expect(has(root, `${h}/vz/101`), h).toBe(false);
      expect(has(root, `${h}/vz`), h).toBe(true); // the node stays
    }
    expect(cg.exists()).toBe(false);
  });

  it('is idempotent and fine with partly missing dirs', () => {
    const { root, cg } = setup();
    rmSync(join(root, 'memory/vz/101'), { recursive: true });
    cg.destroy();
    cg.destroy();
    expect(cg.exists()).toBe(false);
  });

  it('SIGKILLs listed processes and gives up with SYSTEM if the cgroup never empties', async () => {
    const { root, cg } = setup();
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const exited = new Promise((r) => child.once('exit', (_c, sig) => r(sig)));
    put(root, 'memory/vz/101/cgroup.procs', `${child.pid}\n`); // a fake file does not empty itself
    expect(() => cg.destroy()).toThrow(expect.objectContaining({ code: 'SYSTEM', message: expect.stringMatching(/still has processes/) }));
    expect(await exited).toBe('SIGKILL');
    expect(has(root, 'memory/vz/101')).toBe(true);
  });

  it('never kills the manager itself', () => {
    const { root, cg } = setup();
    put(root, 'memory/vz/101/cgroup.procs', `${process.pid}\n`);
    expect(() => cg.destroy()).toThrow(/still has processes/);
  });
});

describe('listNodeCgroups / removeNodeCgroups (v1)', () => {
  it('lists ctids of any hierarchy and removes everything below the node', () => {
    const root = fakeV1();
    for (const ctid of [103, 101]) createCgroupManager({ node: 'vz', ctid, fsRoot: root }).create();
    mkdirSync(join(root, 'systemd/vz/105/init.scope'), { recursive: true });
    mkdirSync(join(root, 'memory/vz/not-a-ct'));
    expect(listNodeCgroups('vz', root)).toEqual([101, 103, 105]);
    expect(listNodeCgroups('other', root)).toEqual([]);
    expect(removeNodeCgroups('vz', root)).toEqual([]);
    for (const h of HIERARCHIES) expect(has(root, `${h}/vz`), h).toBe(false);
    expect(removeNodeCgroups('vz', root)).toEqual([]);
  });
});
