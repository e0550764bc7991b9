/**
 * The per-container lock (src/sys/lock.ts, src/core/lock.ts): verbs given a CTID that does not
 * exist leave no ROOT/lock/CTID.lck behind, a destroy removes its container's lock file, and the
 * removal never lets two operations hold one container's lock at once (a waiter that finds its
 * lock file unlinked under it takes the lock again on the new file).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { REPO, TestNode, isRoot } from './harness.js';

describe.skipIf(!isRoot)('container lock files', () => {
  let n: TestNode;
  const lockDir = () => path.join(n.root, 'lock');
  const ctLocks = () => (fs.existsSync(lockDir()) ? fs.readdirSync(lockDir()).filter((f) => /^\d+\.lck$/.test(f)).sort() : []);

  beforeAll(() => {
    n = new TestNode();
    n.ok('create', '201', '--ostemplate', 'busybox');
  });
  afterAll(() => n?.cleanup());

  it('verbs on a CTID that does not exist leave no lock file; destroy removes its own', () => {
    const verbs: string[][] = [
      ['status', '999'],
      ['set', '999', '--ram', '64M', '--save'],
      ['stop', '999'],
      ['start', '999'],
      ['restart', '999'],
      ['mount', '999'],
      ['umount', '999'],
      ['destroy', '999'],
      ['suspend', '999'],
      ['resume', '999'],
      ['exec', '999', 'true'],
    ];
    for (const v of verbs) {
      const r = n.vzctl(...v);
      if (v[0] === 'status') {
        expect(r.stdout.trim()).toBe('CTID 999 deleted unmounted down'); // vzctl's answer, exit 0
        continue;
      }
      expect({ v, code: r.code }).not.toEqual({ v, code: 0 });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(ctLocks().filter((f) => f.startsWith('999.'))).toEqual([]);
    // An existing container keeps its lock file; destroying it removes it.
    n.ok('mount', '201');
    n.ok('umount', '201');
    expect(ctLocks()).toContain('201.lck');
    n.ok('destroy', '201');
    expect(ctLocks()).toEqual([]);
    n.ok('create', '201', '--ostemplate', 'busybox');
  }, 120_000);

  it('a create racing operations on the same new CTID: one lock holder at a time, the create wins, no stray lock file', async () => {
    // Several failing verbs (which remove the lock file as they release it) around one create:
    // each must either fail with "does not exist" or see the created container, never a half-made one.
    const run = (args: string[]) =>
      new Promise<{ args: string[]; code: number | null; err: string }>((resolve) => {
        const c = spawn(path.join(REPO, 'dist/vzctl'), args, { env: { ...n.env, VZKIT_LOCK_WAIT_MS: '60000' }, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        c.stderr!.on('data', (d) => (err += d));
        c.on('exit', (code) => resolve({ args, code, err }));
      });
    const ops = [['mount', '202'], ['set', '202', '--cpuunits', '500', '--save'], ['create', '202', '--ostemplate', 'busybox'], ['umount', '202'], ['mount', '202'], ['set', '202', '--cpuunits', '600', '--save']];
    const res = await Promise.all(ops.map(run));
    for (const r of res) {
      if (r.code !== 0) expect({ args: r.args, err: r.err }).toMatchObject({ err: expect.stringMatching(/does not exist|not mounted|is mounted|already/) });
      expect(r.err).not.toMatch(/internal error|SQLITE_BUSY/);
    }
    expect(res.find((r) => r.args[0] === 'create')!.code).toBe(0);
    expect(n.ok('status', '202').trim()).toMatch(/^CTID 202 exist /);
    expect(ctLocks()).toContain('202.lck');
    n.vzctl('umount', '202');
    n.ok('destroy', '202');
    expect(ctLocks().filter((f) => f.startsWith('202.'))).toEqual([]);
  }, 120_000);
});
