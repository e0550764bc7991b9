/**
 * Real cgroup v2 from this cgroup v1 host: boots the test VM of test/vm (a stock Debian 6.1 kernel
 * under qemu's software emulation, pure v2) ONCE and runs test/vm/v2-checks.mjs inside against a
 * bundle of src/cgroup; the checks report JSON and each `it` asserts on its part. Enabled by
 * VZKIT_V2_VM=1, which test/vm/tests.sh sets (root; first use downloads a ~70 MB kernel package; a run takes ~20-30 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const repo = new URL('../../../', import.meta.url).pathname;
const vm = join(repo, 'test/vm');
const run = promisify(execFile);
const M = 2 ** 20;

type Check = { ok: boolean; error?: string; [k: string]: any };

describe.skipIf(process.env.VZKIT_V2_VM !== '1')('cgroup v2 manager on a real v2 kernel (VM)', () => {
  let tmp = '';
  let r: Record<string, Check> = {};

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'vzkit-v2-'));
    // Node 20 can't import .ts; the VM sees the host's /tmp, so a bundle there is importable inside.
    const { build } = await import('esbuild');
    const bundle = join(tmp, 'cgroup.mjs');
    await build({ entryPoints: [join(repo, 'src/cgroup/index.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'warning' });
    let t = Date.now();
    await run(join(vm, 'build.sh'), [], { timeout: 600_000 });
    const buildS = (Date.now() - t) / 1000;
    t = Date.now();
    let out: { stdout: string; stderr: string };
    try {
      out = await run(join(vm, 'run.sh'), ['node', join(vm, 'v2-checks.mjs'), bundle], { cwd: repo, timeout: 900_000, maxBuffer: 64 * M });
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      throw new Error(`test VM run failed (exit ${x.code}):\n${x.stdout}\n${x.stderr}`);
    }
    const line = out.stdout.split('\n').find((l) => l.startsWith('@@VZKIT-V2@@ '));
    if (!line) throw new Error(`no result from the VM:\n${out.stdout}\n${out.stderr}`);
    r = JSON.parse(line.slice('@@VZKIT-V2@@ '.length));
    console.info(`vzkit v2 VM: build ${buildS.toFixed(1)} s, run ${((Date.now() - t) / 1000).toFixed(1)} s; ${out.stderr.trim().split('\n').pop()}`);
  }, 1_500_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** The check's record, asserting it passed inside the VM (its error text is the message). */
  const check = (name: string): Check => {
    expect(r[name], `no result for ${name}`).toBeDefined();
    expect(r[name]!.ok, `${name}: ${r[name]!.error ?? ''}`).toBe(true);
    return r[name]!;
  };

  it('detects v2 and creates the CT cgroup with its controllers', () => {
    expect(check('detect').version).toBe(2);
    expect(check('create').controllers).toEqual(expect.arrayContaining(['cpu', 'cpuset', 'memory', 'pids', 'io']));
  });

  it('adds a process; an unknown pid is refused', () => {
    const c = check('addProcess');
    expect(c.procCgroup).toBe('0::/v2t/1');
    expect(c.badPidError.code).toBe('INVALID');
  });

  it('memory.max: a hog is OOM-killed and oom_kill counts it', () => {
    const c = check('memory');
    expect(c.exit.signal).toBe('SIGKILL');
    expect(c.reachedMB).toBeLessThan(32);
    expect(c.oomKillAfter).toBeGreaterThan(c.oomKillBefore);
    expect(c.sleeperAlive).toBe(true);
    expect(c.memoryMaxAfterNull).toBe('max');
  });

  it('pids.max: a fork burst is stopped at the limit', () => {
    const c = check('pids');
    expect(c.started).toBeLessThan(10);
    expect(c.pidsCurrent).toBeLessThanOrEqual(5);
    expect(c.eventsMax).toBeGreaterThan(0);
    expect(c.statsFailcnt).toBe(c.eventsMax);
  });

  it('cpu.max and cpu.weight read back (usage under emulation is only reported)', () => {
    const c = check('cpuMax');
    console.info(`cpu.max 50%: ${c.limitedCores.toFixed(2)} cores used (unlimited: ${c.unlimitedCores.toFixed(2)})`);
    expect(c.cpuMax).toBe('50000 100000');
    expect(c.cpuMaxAfterNull).toBe('max 100000');
    expect(check('cpuWeight').weight).toBe('250');
    expect(check('cpuset').effective).toBe('0');
  });

  it('freeze stops every task; thaw resumes', () => {
    const c = check('freeze');
    expect(c.frozen).toBe(1);
    expect(c.thawedFrozen).toBe(0);
  });

  it('io.max limits the virtio disk', () => {
    const c = check('io');
    if (c.skipped) return;
    expect(c.ioMax).toMatch(/^\d+:\d+ rbps=max wbps=1048576 riops=100 wiops=max$/);
    expect(c.ioMaxAfterNull).toBe('');
    expect(c.limitedS).toBeGreaterThan(c.unlimitedS);
    // 0 = no limit (as v1's blkio): written as max, not refused
    expect(c.zeroError).toBeNull();
    expect(c.ioMaxAfterZero).toMatch(/^\d+:\d+ rbps=max wbps=max riops=100 wiops=max$/);
  });

  it('device rules: a BPF program allows the list, EPERM for the rest; a second apply replaces it', () => {
    const c = check('devices');
    console.info(`devices: apply ${c.applyMs} ms, replace ${c.replaceMs} ms; programs ${JSON.stringify(c.allPrograms)}`);
    expect(c.withDefault).toMatchObject({ '/dev/null w': 'ok', '/dev/zero r': 'ok', '/dev/urandom r': 'ok', '/dev/kmsg r': 'EPERM' });
    expect(c.mknodDefault).toBe('ok');
    expect(c.restricted).toEqual({ '/dev/null r': 'ok', '/dev/null w': 'EPERM', '/dev/zero r': 'EPERM' });
    expect(c.mknodRestricted).toMatch(/Operation not permitted/);
    expect([c.first.length, c.second.length, c.third.length]).toEqual([1, 1, 1]);
    expect(c.second[0].id).not.toBe(c.first[0].id);
    expect(c.hole.code).toBe('INVALID');
    expect(c.afterHole).toEqual(c.second);
  });

  it('stats() matches the kernel files', () => {
    const s = check('stats').stats;
    expect(s.oomKills).toBeGreaterThanOrEqual(1);
    expect(s.pidsCurrent).toBe(3);
  });

  it('a CT with its own sub-cgroups (systemd-like) freezes and is destroyed', () => {
    const c = check('nested');
    expect(c.leafFrozen).toBe(1);
    expect(c.exit.signal).toBe('SIGKILL');
    expect(c.exists).toBe(false);
    // Known v2 limitation of the manager (see test/vm/README.md): joining such a CT fails.
    if (c.joinError) console.info(`joining a CT whose subtree_control is set: ${c.joinError.message}`);
  });

  it('destroy kills everything (even frozen) and removes the cgroup', () => {
    const c = check('destroy');
    expect(c.exists).toBe(false);
    expect(c.left).toEqual([]);
    expect(c.nodeGone).toBe(true);
  });
});
