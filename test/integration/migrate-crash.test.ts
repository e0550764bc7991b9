/**
 * vzmigrate --online SIGKILLed after each of its stages (VZKIT_CRASH_AT; a crash point follows
 * every completed stage). What is checked afterwards: both nodes' status tells the truth, the
 * container's files are intact on the side that has it, and the next operation brings it back
 * (vzmigrate again, or a start on the source). A SIGKILL runs no undo: see the README for what
 * that leaves between the stages.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { isRoot, REPO } from './harness.js';
import { MigrationRig } from './migrate/rig.js';

const criuReady = isRoot && spawnSync(process.env.VZKIT_CRIU ?? '/opt/vzkit/criu/sbin/criu', ['check'], { encoding: 'utf8' }).status === 0 && fs.existsSync('/usr/sbin/sshd');

describe.skipIf(!criuReady)('vzmigrate killed at each stage', () => {
  let rig: MigrationRig;
  beforeAll(() => {
    rig = new MigrationRig('sysinfo_intercept: false\n');
    rig.setup();
  }, 60_000);
  afterAll(() => rig?.close());

  it('after each stage: the truth on both nodes, the next operation finishes the source side, one copy runs, nothing lost', () => {
    const { src, dst } = rig;
    const ct = '461';
    const running = (n: typeof src) => {
      try {
        const [, init] = fs.readFileSync(path.join(n.root, 'run', `${ct}.pid`), 'utf8').trim().split(/\s+/).map(Number);
        return !!init && fs.existsSync(`/proc/${init}`);
      } catch {
        return false;
      }
    };
    const seen: string[] = [];
    const bait = path.join(src.dir, 'bait-migrate');
    fs.writeFileSync(bait, 'host secret\n');
    for (let i = 1; i <= 9; i++) {
      if (!src.ok('status', ct).includes(' exist ')) {
        src.ok('create', ct, '--ostemplate', 'busybox');
        fs.writeFileSync(path.join(src.root, 'private', ct, 'root', 'data'), 'precious\n');
        // A link to a host file planted in the container: migrated as a link, the host file untouched.
        fs.symlinkSync(bait, path.join(src.root, 'private', ct, 'root', 'host-link'));
      }
      if (!running(src)) src.ok('start', ct);
      const r = spawnSync(path.join(REPO, 'dist/vzmigrate'), [`--ssh=${rig.sshOptions()}`, '--online', rig.destAddr, ct], {
        env: { ...src.env, VZKIT_CRASH_AT: String(i) },
        encoding: 'utf8',
        timeout: 300_000,
      });
      const finished = r.status === 0; // got past its last crash point
      if (!finished) expect({ i, signal: r.signal }).toEqual({ i, signal: 'SIGKILL' });
      // status tells the truth on both nodes
      for (const [n, name] of [[src, 'src'], [dst, 'dst']] as const) {
        const st = n.ok('status', ct).trim();
        expect({ i, name, st, running: st.endsWith(' running') }).toEqual({ i, name, st, running: running(n) });
      }
      // The next locked operation on the source finishes what the killed vzmigrate left.
      if (src.ok('status', ct).includes(' exist ')) src.ok('set', ct, '--description', `after crash ${i}`, '--save');
      const onSrc = running(src);
      const onDst = running(dst);
      seen.push(`${i}: ${onSrc ? 'source' : ''}${onDst ? 'DEST' : ''}`);
      expect({ i, oneCopyRuns: onSrc !== onDst }).toEqual({ i, oneCopyRuns: true });
      const where = onSrc ? src : dst;
      expect(where.ok('exec', ct, 'cat', '/root/data')).toBe('precious\n');
      if (onSrc) {
        // It runs on here as before: a new vzmigrate succeeds.
        const again = src.run('vzmigrate', [`--ssh=${rig.sshOptions()}`, '--online', rig.destAddr, ct], { timeout: 300_000 });
        expect({ i, code: again.code, err: again.stderr }).toMatchObject({ i, code: 0 });
        expect(dst.ok('exec', ct, 'cat', '/root/data')).toBe('precious\n');
      }
      expect(fs.lstatSync(path.join((onSrc ? dst : where).root, 'private', ct, 'root', 'host-link')).isSymbolicLink()).toBe(true);
      expect(fs.readFileSync(bait, 'utf8')).toBe('host secret\n');
      dst.ok('stop', ct, '--fast');
      dst.ok('destroy', ct);
      if (src.ok('status', ct).includes(' exist ')) src.ok('destroy', ct);
    }
    expect(seen.length).toBe(9);
    // The killed runs' temporary directories went with the recovery (the next locked operation).
    expect(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`vzmigrate-${ct}-`))).toEqual([]);
  }, 1_200_000);
});
