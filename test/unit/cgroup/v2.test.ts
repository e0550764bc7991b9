import { describe, expect, it } from 'vitest';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createCgroupManager, listNodeCgroups, removeNodeCgroups } from '../../../src/cgroup/index.js';
import { DEFAULT_DEVICE_RULES } from '../../../src/cgroup/v1/devices.js';
import { observeWrites } from '../../../src/cgroup/cgfs.js';
import { fakeV2, has, put, read, recordWrites } from './fakefs.js';

const M = 2 ** 20;

function setup(opts: Parameters<typeof fakeV2>[0] = {}) {
  const root = fakeV2(opts);
  const cg = createCgroupManager({ node: 'vz', ctid: 101, fsRoot: root, waitMs: 100 });
  expect(cg.version).toBe(2);
  cg.create();
  return { root, cg };
}

describe('v2 create', () => {
  it('enables the wanted controllers in the root and the node dir, leaves the CT dir alone', () => {
    const root = fakeV2();
    const log = recordWrites(root);
    const cg = createCgroupManager({ node: 'vz', ctid: 101, fsRoot: root });
    cg.create();
    expect(log).toEqual([
      ['cgroup.subtree_control', '+cpu +cpuset +memory +pids +io'],
      ['vz/cgroup.subtree_control', '+cpu +cpuset +memory +pids +io'],
    ]);
    expect(has(root, 'vz/101/cgroup.procs')).toBe(true);
    expect(read(root, 'vz/101/cgroup.controllers')).toBe('cpu cpuset memory pids io'); // what the node enabled
    expect(read(root, 'vz/101/cgroup.subtree_control')).toBe('');
    expect(cg.dirs()).toEqual([join(root, 'vz/101')]);
    expect(cg.procsFiles()).toEqual([join(root, 'vz/101/cgroup.procs')]);
    expect(cg.exists()).toBe(true);
  });

  it('only enables what cgroup.controllers offers, and nothing already enabled', () => {
    const root = fakeV2({ controllers: 'memory pids hugetlb' });
    put(root, 'cgroup.subtree_control', 'memory\n');
    const log = recordWrites(root);
    createCgroupManager({ node: 'vz', ctid: 101, fsRoot: root }).create();
    expect(log[0]).toEqual(['cgroup.subtree_control', '+pids']); // (the fake's node dir then only sees the last write)
  });

  it('is idempotent', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    put(root, 'vz/101/memory.max', '1048576');
    put(root, 'cgroup.subtree_control', 'cpu cpuset memory pids io');
    put(root, 'vz/cgroup.subtree_control', 'cpu cpuset memory pids io');
    cg.create();
    expect(log).toEqual([]);
    expect(read(root, 'vz/101/memory.max')).toBe('1048576');
  });
});

describe('v2 apply', () => {
  it('writes memory.max, memory.swap.max, cpu.weight, cpu.max, cpuset.cpus, pids.max', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    cg.apply({ cpus: '0-1', memoryMax: 512 * M, memorySwapMax: 0, cpuWeight: 250, cpuMax: { quotaUs: 50000, periodUs: 100000 }, pidsMax: 300 });
    expect(log).toEqual([
      ['vz/101/cpuset.cpus', '0-1'],
      ['vz/101/memory.max', String(512 * M)],
      ['vz/101/memory.swap.max', '0'],
      ['vz/101/cpu.weight', '250'],
      ['vz/101/cpu.max', '50000 100000'],
      ['vz/101/pids.max', '300'],
    ]);
  });

  it('spells unlimited "max"', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    cg.apply({ memoryMax: null, memorySwapMax: null, cpuMax: null, pidsMax: null });
    expect(log).toEqual([
      ['vz/101/memory.max', 'max'],
      ['vz/101/memory.swap.max', 'max'],
      ['vz/101/cpu.max', 'max 100000'],
      ['vz/101/pids.max', 'max'],
    ]);
  });

  it('leaves out undefined fields entirely', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    cg.apply({});
    cg.apply({ io: [{ major: 8, minor: 0 }] });
    expect(log).toEqual([]);
  });

  it('writes one io.max line per device with only the given keys', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    cg.apply({ io: [{ major: 8, minor: 0, rbps: 10 * M, wiops: 100 }, { major: 254, minor: 0, wbps: null, riops: null }] });
    expect(log).toEqual([
      ['vz/101/io.max', `8:0 rbps=${10 * M} wiops=100`],
      ['vz/101/io.max', '254:0 wbps=max riops=max'],
    ]);
  });

  it('ignores a swap limit without swap accounting (no memory.swap.max)', () => {
    const { root, cg } = setup();
    rmSync(join(root, 'vz/101/memory.swap.max'));
    const log = recordWrites(root);
    cg.apply({ memoryMax: 64 * M, memorySwapMax: 0 });
    expect(log).toEqual([['vz/101/memory.max', String(64 * M)]]);
  });

  it('refuses device rules (eBPF on v2) and out-of-range weights', () => {
    const { cg } = setup();
    expect(() => cg.apply({ devices: DEFAULT_DEVICE_RULES })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
    expect(() => cg.apply({ cpuWeight: 0 })).toThrow(expect.objectContaining({ code: 'INVALID' }));
  });

  it('a controller that is not enabled shows as a missing file', () => {
    const { root, cg } = setup();
    rmSync(join(root, 'vz/101/cpu.weight')); // the fake copies every file; the kernel only has enabled controllers'
    expect(() => cg.apply({ cpuWeight: 100 })).toThrow(/cpu.weight does not exist/);
  });
});

describe('v2 stats', () => {
  it('parses memory, pids and cpu.stat', () => {
    const { root, cg } = setup();
    put(root, 'vz/101/memory.current', '10485760\n');
    put(root, 'vz/101/memory.stat', 'anon 6291456\nfile 4194304\nkernel 0\n');
    put(root, 'vz/101/memory.swap.current', '4096\n');
    put(root, 'vz/101/memory.events', 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n');
    put(root, 'vz/101/pids.current', '3\n');
    put(root, 'vz/101/pids.events', 'max 2\n');
    put(root, 'vz/101/cpu.stat', 'usage_usec 987654\nuser_usec 1\nsystem_usec 2\n');
    expect(cg.stats()).toEqual({
      memoryCurrent: 10 * M,
      memoryCache: 4 * M,
      swapCurrent: 4096,
      memoryFailcnt: 12,
      oomKills: 1,
      pidsCurrent: 3,
      pidsFailcnt: 2,
      cpuUsageUs: 987654,
    });
  });
});

describe('v2 freeze / thaw', () => {
  it('writes cgroup.freeze and waits for "frozen 1" in cgroup.events', () => {
    const { root, cg } = setup();
    put(root, 'vz/101/cgroup.events', 'populated 1\nfrozen 1\n');
    const log = recordWrites(root);
    cg.freeze();
    cg.thaw();
    expect(log).toEqual([
      ['vz/101/cgroup.freeze', '1'],
      ['vz/101/cgroup.freeze', '0'],
    ]);
  });

  it('times out with SYSTEM if "frozen 1" never comes, and thaws', () => {
    const { root, cg } = setup();
    put(root, 'vz/101/cgroup.events', 'populated 1\nfrozen 0\n');
    expect(() => cg.freeze()).toThrow(expect.objectContaining({ code: 'SYSTEM' }));
    expect(read(root, 'vz/101/cgroup.freeze')).toBe('0');
  });
});

describe('v2 destroy', () => {
  it('uses cgroup.kill while populated, then removes nested sub-cgroups deepest first', () => {
    const { root, cg } = setup();
    mkdirSync(join(root, 'vz/101/init.scope'));
    mkdirSync(join(root, 'vz/101/system.slice/cron.service'), { recursive: true });
    put(root, 'vz/101/system.slice/cron.service/memory.max', 'max');
    put(root, 'vz/101/cgroup.events', 'populated 1\nfrozen 0\n');
    const log: [string, string][] = [];
    observeWrites((file, v) => {
      log.push([file.slice(root.length + 1), v]);
      // play the kernel: the kill empties the cgroup
      if (file.endsWith('cgroup.kill')) put(root, 'vz/101/cgroup.events', 'populated 0\nfrozen 0\n');
    });
    cg.destroy();
    expect(log[0]).toEqual(['vz/101/cgroup.kill', '1']);
    expect(has(root, 'vz/101')).toBe(false);
    expect(has(root, 'vz')).toBe(true);
    cg.destroy(); // idempotent
  });

  it('without cgroup.kill (kernel < 5.14) and without processes just removes', () => {
    const { root, cg } = setup({ kill: false });
    const log = recordWrites(root);
    cg.destroy();
    expect(log).toEqual([]);
    expect(has(root, 'vz/101')).toBe(false);
  });

  it('gives up with SYSTEM if it stays populated', () => {
    const { root, cg } = setup();
    put(root, 'vz/101/cgroup.events', 'populated 1\nfrozen 0\n');
    expect(() => cg.destroy()).toThrow(/still has processes/);
    expect(has(root, 'vz/101')).toBe(true);
  });
});

describe('listNodeCgroups / removeNodeCgroups (v2)', () => {
  it('lists and removes', () => {
    const root = fakeV2();
    for (const ctid of [5, 3]) createCgroupManager({ node: 'vz', ctid, fsRoot: root }).create();
    mkdirSync(join(root, 'vz/5/init.scope'));
    expect(listNodeCgroups('vz', root)).toEqual([3, 5]);
    expect(removeNodeCgroups('vz', root)).toEqual([]);
    expect(has(root, 'vz')).toBe(false);
    expect(has(root, 'cgroup.procs')).toBe(true);
  });
});
