import { describe, expect, it } from 'vitest';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createCgroupManager, listNodeCgroups, removeNodeCgroups } from '../../../src/cgroup/index.js';
import { DEFAULT_DEVICE_RULES } from '../../../src/cgroup/v1/devices.js';
import { observeWrites } from '../../../src/cgroup/cgfs.js';
import type { HelperResult } from '../../../src/cgroup/v2/devices.js';
import { fakeV1, fakeV2, has, put, read, recordWrites } from '../../support/fake-cgroupfs.js';

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

  it('refuses out-of-range weights', () => {
    const { cg } = setup();
    expect(() => cg.apply({ cpuWeight: 0 })).toThrow(expect.objectContaining({ code: 'INVALID' }));
  });

  it('writes an io limit of 0 as "max" (no limit), like v1 where 0 removes the rule', () => {
    const { root, cg } = setup();
    const log = recordWrites(root);
    cg.apply({ io: [{ major: 8, minor: 0, rbps: 0, wbps: 5 * M, riops: 0, wiops: null }] });
    expect(log).toEqual([['vz/101/io.max', `8:0 rbps=max wbps=${5 * M} riops=max wiops=max`]]);
    // v1: 0 and null both write 0, which removes the throttle rule
    const v1root = fakeV1();
    const v1 = createCgroupManager({ node: 'vz', ctid: 101, fsRoot: v1root, version: 1 });
    v1.create();
    const v1log = recordWrites(v1root);
    v1.apply({ io: [{ major: 8, minor: 0, rbps: 0, wbps: null }] });
    expect(v1log).toEqual([
      ['blkio/vz/101/blkio.throttle.read_bps_device', '8:0 0'],
      ['blkio/vz/101/blkio.throttle.write_bps_device', '8:0 0'],
    ]);
  });

  it('a file missing although its controller is enabled keeps the generic message', () => {
    const { root, cg } = setup();
    rmSync(join(root, 'vz/101/cpu.weight')); // the fake copies every file; the kernel only has enabled controllers'
    put(root, 'cgroup.subtree_control', 'cpu cpuset memory pids io');
    put(root, 'vz/cgroup.subtree_control', 'cpu cpuset memory pids io');
    expect(() => cg.apply({ cpuWeight: 100 })).toThrow(/cpu.weight does not exist \(controller not mounted or not enabled\?\)$/);
  });
});

describe('v2 apply: why a controller file is missing', () => {
  /** A CT whose node dir did not pass `controller` on: what the kernel shows then. */
  function without(controller: string, opts: { nodeProcs?: string; nodeType?: string } = {}) {
    const { root, cg } = setup();
    const rest = 'cpu cpuset memory pids io'.split(' ').filter((c) => c !== controller).join(' ');
    put(root, 'cgroup.subtree_control', 'cpu cpuset memory pids io');
    put(root, 'vz/cgroup.controllers', 'cpu cpuset memory pids io');
    put(root, 'vz/cgroup.subtree_control', rest);
    put(root, 'vz/101/cgroup.controllers', rest);
    if (opts.nodeProcs) put(root, 'vz/cgroup.procs', opts.nodeProcs);
    if (opts.nodeType) put(root, 'vz/cgroup.type', opts.nodeType);
    for (const f of ['memory.max', 'memory.swap.max', 'io.max', 'cpu.weight', 'cpu.max']) {
      if (f.startsWith(controller + '.')) rmSync(join(root, 'vz/101', f));
    }
    return { root, cg };
  }

  it('names the controller and the "no internal processes" rule when the node dir has processes', () => {
    const { root, cg } = without('memory', { nodeProcs: '4242\n4243\n' });
    let err: any;
    try {
      cg.apply({ memoryMax: 64 * M });
    } catch (e) {
      err = e;
    }
    expect(err.code).toBe('SYSTEM');
    expect(err.message).toContain(`memory limit 64M: ${join(root, 'vz/101/memory.max')} does not exist: the memory controller is not enabled for this cgroup`);
    expect(err.message).toContain(`${join(root, 'vz')} has processes (4242 4243)`);
    expect(err.message).toContain('"no internal processes" rule');
    expect(err.message).not.toContain('not mounted or not enabled?');
  });

  it('includes the kernel\'s refusal recorded by create() in the same process', () => {
    const root = fakeV2();
    put(root, 'cgroup.subtree_control', 'cpu cpuset memory pids io');
    mkdirSync(join(root, 'vz'));
    for (const f of ['cgroup.procs', 'cgroup.controllers', 'cpu.weight', 'memory.max']) put(root, `vz/${f}`, '');
    put(root, 'vz/cgroup.controllers', 'cpu cpuset memory pids io');
    // no vz/cgroup.subtree_control in the fake: every write to it fails, as if the kernel refused
    put(root, 'vz/cgroup.procs', '77\n');
    const cg = createCgroupManager({ node: 'vz', ctid: 101, fsRoot: root });
    cg.create();
    rmSync(join(root, 'vz/101/cpu.weight'));
    expect(() => cg.apply({ cpuWeight: 100 })).toThrow(/the cpu controller is not enabled for this cgroup: .*vz has processes \(77\).*; the kernel refused enabling it: enabling cgroup controllers/);
  });

  it('a threaded node dir cannot pass on a domain controller', () => {
    const { cg } = without('io', { nodeType: 'domain threaded' });
    expect(() => cg.apply({ io: [{ major: 8, minor: 0, wbps: M }] })).toThrow(/the io controller is not enabled for this cgroup: .*vz is a "domain threaded" cgroup/);
  });

  it('says when it is just not enabled (no processes, no refusal seen)', () => {
    const { cg } = without('cpu');
    expect(() => cg.apply({ cpuWeight: 100 })).toThrow(/the cpu controller is not enabled for this cgroup: it is not enabled in .*vz\/cgroup.subtree_control/);
  });

  it('says when the kernel does not offer the controller at all', () => {
    const root = fakeV2({ controllers: 'cpuset cpu memory pids\n' }); // io e.g. bound to v1
    const cg = createCgroupManager({ node: 'vz', ctid: 101, fsRoot: root });
    cg.create();
    rmSync(join(root, 'vz/101/io.max'));
    expect(() => cg.apply({ io: [{ major: 8, minor: 0, wbps: M }] })).toThrow(/the kernel offers no io controller on cgroup v2/);
  });
});

describe('v2 apply: device rules (BPF program through ctspawn devices)', () => {
  function withHelper(result: Partial<HelperResult> = {}) {
    const calls: string[][] = [];
    const root = fakeV2();
    const cg = createCgroupManager({
      node: 'vz', ctid: 101, fsRoot: root,
      runHelper: (args) => (calls.push(args), { status: 0, stdout: '', stderr: '', ...result }),
    });
    cg.create();
    return { root, cg, calls };
  }

  it('passes the whole list, in order, as v1-style rules', () => {
    const { root, cg, calls } = withHelper();
    const log = recordWrites(root);
    cg.apply({ devices: DEFAULT_DEVICE_RULES });
    expect(log).toEqual([]); // nothing written to cgroupfs
    expect(calls).toEqual([[
      'devices', join(root, 'vz/101'),
      'deny a', 'allow c *:* m', 'allow b *:* m',
      'allow c 1:3 rwm', 'allow c 1:5 rwm', 'allow c 1:7 rwm', 'allow c 1:8 rwm', 'allow c 1:9 rwm',
      'allow c 5:0 rwm', 'allow c 5:1 rwm', 'allow c 5:2 rwm', 'allow c 136:* rwm', 'allow c 10:200 rwm', 'allow c 10:229 rwm',
    ]]);
  });

  it('does not run the helper without rules, and applies the rules after the other limits', () => {
    const { root, cg, calls } = withHelper();
    cg.apply({ devices: [] });
    cg.apply({ memoryMax: M });
    expect(calls).toEqual([]);
    const order: string[] = [];
    recordWrites(root);
    const cg2 = createCgroupManager({ node: 'vz', ctid: 101, fsRoot: root, runHelper: (a) => (order.push(a[0]!), { status: 0, stdout: '', stderr: '' }) });
    observeWrites((f) => order.push(f.slice(root.length + 1)));
    cg2.apply({ pidsMax: 10, devices: [{ allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }] });
    expect(order).toEqual(['vz/101/pids.max', 'devices']);
  });

  it('checks rules before running anything (INVALID)', () => {
    const { cg, calls } = withHelper();
    for (const bad of [
      { allow: true, type: 'x', major: 1, minor: 3, access: 'rw' },
      { allow: true, type: 'c', major: -1, minor: 3, access: 'rw' },
      { allow: true, type: 'c', major: 1, minor: 2 ** 31, access: 'rw' },
      { allow: true, type: 'c', major: 1, minor: 3, access: '' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwx' },
    ]) {
      expect(() => cg.apply({ devices: [bad as any] })).toThrow(expect.objectContaining({ code: 'INVALID' }));
    }
    expect(calls).toEqual([]);
  });

  it('turns a helper failure into a VzError: refused rule INVALID, kernel trouble SYSTEM', () => {
    const rule = { devices: [{ allow: false, type: 'c' as const, major: 1, minor: 5, access: 'rwm' }] };
    const refused = withHelper({ status: 125, stderr: 'ctspawn: devices: rule "deny c 1:5 rwm": cannot punch a hole in the wider rule "allow c *:* m"\n' });
    expect(() => refused.cg.apply(rule)).toThrow(expect.objectContaining({ code: 'INVALID', message: expect.stringContaining('device rules for') }));
    const kernel = withHelper({ status: 125, stderr: 'ctspawn: devices: loading the BPF device program (16 instructions): Permission denied; verifier: x\n' });
    expect(() => kernel.cg.apply(rule)).toThrow(expect.objectContaining({ code: 'SYSTEM', message: expect.stringMatching(/: loading the BPF device program .*verifier: x$/) }));
    const missing = withHelper({ status: null, error: Object.assign(new Error('spawnSync /x/ctspawn ENOENT'), { code: 'ENOENT' }) });
    expect(() => missing.cg.apply(rule)).toThrow(expect.objectContaining({ code: 'SYSTEM', hint: expect.stringContaining('make -C native') }));
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
