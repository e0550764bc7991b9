/**
 * vzkit's whole lifecycle on a pure cgroup v2 kernel (the test VM): create with limits, start,
 * exec, live set, an OOM kill inside, suspend and resume (CRIU), delegation, list, stop, destroy. VZKIT_V2_VM=1 (set by test/vm/tests.sh).
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO } from '../harness.js';

const enabled = process.env.VZKIT_V2_VM === '1' && process.getuid?.() === 0;

describe.skipIf(!enabled)('lifecycle on cgroup v2 (VM)', () => {
  it('creates, starts, limits, delegates, stops and destroys', () => {
    const r = spawnSync(path.join(REPO, 'test/vm/run.sh'), ['sh', path.join(REPO, 'test/vm/lifecycle-v2.sh')], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 600_000,
      maxBuffer: 64 << 20,
    });
    expect(r.status).toBe(0);
    const steps = new Map<string, { rc: number; out: string }>();
    for (const block of r.stdout.split(/^STEP /m).slice(1)) {
      const [head, ...rest] = block.split('\n');
      const [name, rc] = head!.split(' rc=');
      steps.set(name!, { rc: Number(rc), out: rest.join('\n') });
    }
    const rc = (s: string) => steps.get(s)?.rc;
    const out = (s: string) => steps.get(s)?.out ?? '';
    for (const s of ['create', 'start', 'ps', 'cgroup', 'nproc', 'set', 'counter', 'suspend', 'resume', 'resumed', 'free', 'delegate', 'list', 'stop', 'status', 'destroy', 'gone']) {
      expect({ step: s, rc: rc(s) }).toEqual({ step: s, rc: 0 });
    }
    expect(out('ps')).toMatch(/^\s*1 root\s+init/m);
    expect(out('cgroup').trim()).toBe('0::/');
    expect(out('nproc').trim()).toBe('1');
    expect(out('memory.max').trim()).toBe(String(96 * 2 ** 20));
    expect(out('pids.max').trim()).toBe('32');
    expect(rc('hog')).toBe(137);
    expect(out('oom_kill')).toMatch(/oom_kill [1-9]/);
    // Resumed: the counter went on, init is back in the container's cgroup with its limit, and
    // sysinfo(2) (busybox free) answers from that limit again after the restore.
    const [count, cgroup, max] = out('resumed').trim().split('\n');
    expect(Number(count)).toBeGreaterThan(5);
    expect(cgroup).toBe('0::/vt2/101');
    expect(max).toBe(String(96 * 2 ** 20));
    expect(out('free')).toMatch(/^Mem:\s+96\s/m);
    // Below the usage: one line, 21, the old limit and memory.high as they were, still running.
    expect(rc('ram-low')).toBe(21);
    expect(out('ram-low').trim()).toMatch(/^vzctl: .*memory limit 16M? refused: the container uses \d+(\.\d+)?[KMG].*could not be reclaimed/);
    expect(out('ram-low').trim().split('\n')).toHaveLength(1);
    const [kmax, khigh, kstatus, kram] = out('ram-kept').trim().split('\n');
    expect({ kmax, khigh, kstatus, kram: kram?.trim() }).toEqual({ kmax: String(96 * 2 ** 20), khigh: 'max', kstatus: 'CTID 101 exist mounted running', kram: '96M' });
    for (const s of ['swap0', 'ram-pin', 'ram-unpin', 'ram-48', 'ram-96']) expect({ step: s, rc: rc(s) }).toEqual({ step: s, rc: 0 });
    expect(out('ram-48-max').trim()).toBe(String(48 * 2 ** 20));
    // An I/O limit where the private area has no block device (here an overlay): said, not skipped silently.
    expect(rc('iolimit')).toBe(0);
    expect(out('iolimit').trim()).toMatch(/^vzkit: warning: CT 101: iolimit not applied: the private area \S+ is on no block device of its own/);
    expect(rc('iolimit-off')).toBe(0);
    expect(out('iolimit-off')).not.toMatch(/warning/);
    expect(out('delegate')).toContain('delegated');
    expect(out('list')).toMatch(/101\s+running\s+96M\s+32/);
    expect(out('status').trim()).toBe('CTID 101 exist unmounted down');
  }, 700_000);
});
