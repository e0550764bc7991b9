/**
 * A Debian 12 container with systemd on a pure cgroup v2 kernel (the test VM): systemd gets the
 * container's delegated cgroup, enables controllers there and reaches "running"; exec joins
 * init's own cgroup (v2 refuses processes in a cgroup with controllers enabled below it).
 * Needs the Debian template cache that debian.test.ts builds (test/vm/tests.sh runs that first).
 * VZKIT_V2_VM=1 (set by test/vm/tests.sh).
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO } from '../harness.js';

const cache = process.env.VZKIT_TEST_TEMPLATE_CACHE ?? '/var/cache/vzkit-test/templates';
const enabled = process.env.VZKIT_V2_VM === '1' && process.getuid?.() === 0 && fs.existsSync(path.join(cache, 'debian-12/.vzkit-complete'));

describe.skipIf(!enabled)('Debian 12 with systemd on cgroup v2 (VM)', () => {
  it('boots to running with controllers delegated; exec joins init.scope; suspend and resume; stop and destroy clean up', () => {
    const r = spawnSync(path.join(REPO, 'test/vm/run.sh'), ['sh', path.join(REPO, 'test/vm/debian-v2.sh')], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 900_000,
      maxBuffer: 64 << 20,
      env: { ...process.env, VZKIT_VM_MEM: '1536', VZKIT_VM_DISK_MB: '2048' },
    });
    expect(r.status, r.stderr).toBe(0);
    const steps = new Map<string, { rc: number; out: string }>();
    for (const block of r.stdout.split(/^STEP /m).slice(1)) {
      const [head, ...rest] = block.split('\n');
      const [name, rc] = head!.split(' rc=');
      steps.set(name!, { rc: Number(rc), out: rest.join('\n') });
    }
    for (const s of ['create', 'start', 'running', 'failed', 'cgroup', 'suspend', 'resume', 'resumed', 'failed2', 'stop', 'status', 'destroy', 'gone']) {
      expect({ step: s, rc: steps.get(s)?.rc }).toEqual({ step: s, rc: 0 });
    }
    expect(steps.get('running')!.out.trim()).toBe('running');
    expect(steps.get('failed')!.out.trim()).toBe('');
    expect(steps.get('cgroup')!.out.trim()).toBe('0::/init.scope');
    expect(steps.get('controllers')!.out).toMatch(/memory/);
    expect(steps.get('tree')!.out).toMatch(/system\.slice/);
    expect(steps.get('memory.max')!.out.trim()).toBe(String(256 * 2 ** 20));
    // Suspended and resumed (CRIU): systemd runs on, init back in the container's cgroup tree
    // (init.scope below it), the limit and the controllers delegated to systemd kept.
    const [state, cgroup, max, controllers] = steps.get('resumed')!.out.trim().split('\n');
    expect(state).toBe('running');
    expect(cgroup).toBe('0::/dv2/101/init.scope');
    expect(max).toBe(String(256 * 2 ** 20));
    expect(controllers).toMatch(/memory/);
    expect(steps.get('failed2')!.out.trim()).toBe('');
    expect(steps.get('status')!.out.trim()).toBe('CTID 101 exist unmounted down');
  }, 1_000_000);
});
