/**
 * The native helper's own end-to-end checks (test/native/smoke.sh): the start protocol driven by a
 * small independent driver, error stages, console, enter, sysinfo interception, load average,
 * cgroup cleanup. Run here so CI covers them too.
 */
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO, isRoot } from './harness.js';

describe.skipIf(!isRoot)('test/native/smoke.sh', () => {
  it('passes', () => {
    const r = spawnSync('bash', [path.join(REPO, 'test/native/smoke.sh')], { encoding: 'utf8', timeout: 180_000 });
    const out = `${r.stdout}\n${r.stderr}`;
    if (r.status !== 0) console.error(out.slice(-4000));
    expect(r.status).toBe(0);
    expect(out).toContain('smoke.sh: all passed');
  }, 200_000);
});
