import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DebootstrapProgress } from '../../../src/template/debootstrap.js';
import { joinProcsFile } from '../../../src/cgroup/join.js';
import { specHash } from '../../../src/template/cache.js';

describe('debootstrap progress', () => {
  it('moves forward through the phases, with the package at hand', () => {
    const p = new DebootstrapProgress();
    const lines = [
      'I: Retrieving InRelease',
      'I: Retrieving libc6 2.36-9',
      'I: Validating libc6 2.36-9',
      'I: Retrieving bash 5.2-2',
      'I: Validating bash 5.2-2',
      'I: Extracting libc6...',
      'I: Extracting bash...',
      'I: Unpacking libc6...',
      'I: Configuring libc6...',
      'I: Configuring bash...',
      'I: Base system installed successfully.',
      'W: something else',
    ];
    const out = lines.map((l) => p.line(l));
    expect(out[11]).toBeUndefined();
    const fr = out.filter(Boolean).map((o) => o!.fraction);
    for (let i = 1; i < fr.length; i++) expect(fr[i]).toBeGreaterThanOrEqual(fr[i - 1]! - 1e-9);
    expect(out[1]!.label).toBe('downloading libc6');
    expect(out[8]!.label).toMatch(/^configuring libc6/);
    expect(fr[fr.length - 1]).toBeLessThanOrEqual(0.98);
  });
});

describe('template cache fingerprint', () => {
  it('changes with the build section', () => {
    const a = specHash({ type: 'debootstrap', suite: 'bookworm', packages: ['a'] });
    expect(specHash({ type: 'debootstrap', suite: 'bookworm', packages: ['a'] })).toBe(a);
    expect(specHash({ type: 'debootstrap', suite: 'bookworm', packages: ['a', 'b'] })).not.toBe(a);
  });
});

describe('joining a container on cgroup2', () => {
  it("joins init's own cgroup inside the container, else the container's top", () => {
    const top = '/sys/fs/cgroup/unified/vz/101';
    expect(joinProcsFile('/sys/fs/cgroup/unified', top, undefined)).toBe(`${top}/cgroup.procs`);
    // Our own process is not in the container: the top.
    expect(joinProcsFile('/sys/fs/cgroup/unified', top, process.pid)).toBe(`${top}/cgroup.procs`);
    // A fake /proc/PID/cgroup is not possible; the path logic is checked on our own cgroup.
    const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3);
    const mount = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-join-'));
    const ctTop = path.join(mount, path.dirname(own));
    expect(joinProcsFile(mount, ctTop, process.pid)).toBe(path.join(mount, own, 'cgroup.procs'));
    fs.rmSync(mount, { recursive: true });
  });
});
