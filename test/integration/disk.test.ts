/**
 * Disk limits per layout, for real: an image layout (ext4 in a sparse file) limits what the
 * container can write, is resized with `vzctl set --diskspace`, shows its limit in df, and leaves
 * nothing behind. The dir layout refuses a limit this node cannot enforce.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import { TestNode, isRoot } from './harness.js';

const capSysResource = (() => {
  const m = /CapEff:\s*([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? (BigInt('0x' + m[1]) >> 24n) & 1n ? true : false : false;
})();

function loopsFor(dir: string): string[] {
  const out: string[] = [];
  for (const d of fs.readdirSync('/sys/block').filter((b) => b.startsWith('loop'))) {
    try {
      if (fs.readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').startsWith(dir)) out.push(d);
    } catch {}
  }
  return out;
}

describe.skipIf(!isRoot)('disk limits (root, real containers)', () => {
  let n: TestNode;
  beforeAll(() => {
    n = new TestNode();
  });
  afterAll(() => n?.cleanup());

  it('image layout: the container cannot write past its diskspace; earlier files stay intact', () => {
    n.ok('create', '501', '--ostemplate', 'busybox', '--layout', 'image', '--diskspace', '24M');
    n.ok('start', '501');
    const df = n.ok('exec', '501', 'df', '-m', '/').split('\n')[1]!.split(/\s+/);
    expect(Number(df[1])).toBeGreaterThan(15);
    expect(Number(df[1])).toBeLessThanOrEqual(24);
    n.ok('exec', '501', 'dd', 'if=/dev/urandom', 'of=/root/keep', 'bs=1M', 'count=4');
    const before = n.ok('exec', '501', 'md5sum', '/root/keep');
    const r = n.vzctl('exec', '501', 'dd', 'if=/dev/zero', 'of=/root/big', 'bs=1M', 'count=40');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/No space left on device/);
    expect(n.ok('exec', '501', 'md5sum', '/root/keep')).toBe(before);
    // The host's file system only holds the image file, at most its size.
    expect(fs.statSync(`${n.root}/private/501/root.img`).size).toBe(24 * 2 ** 20);
    const q = JSON.parse(n.ok('quota', '501', '--json'));
    expect(q.blocks.hard).toBe(24 * 1024);
    expect(q.blocks.usage).toBeGreaterThan(4 * 1024);
    n.ok('exec', '501', 'rm', '-f', '/root/big');
  });

  it('grows with vzctl set --diskspace (online where the kernel allows it, else when stopped)', () => {
    const live = n.vzctl('set', '501', '--diskspace', '64M', '--save');
    if (capSysResource) {
      expect(live.code).toBe(0);
    } else {
      expect(live.code).toBe(143);
      expect(live.stderr).toMatch(/CAP_SYS_RESOURCE/);
      n.ok('stop', '501');
      n.ok('set', '501', '--diskspace', '64M', '--save');
      n.ok('start', '501');
    }
    expect(n.vzctl('exec', '501', 'dd', 'if=/dev/zero', 'of=/root/big', 'bs=1M', 'count=40').code).toBe(0);
    expect(JSON.parse(n.vzlist('-j', '-o', 'ctid,diskspace.h', '501').stdout)[0]['diskspace.h']).toBe(64 * 1024);
  });

  it('refuses to shrink below what is used, and shrinks a stopped image when it fits', () => {
    n.ok('stop', '501');
    const r = n.vzctl('set', '501', '--diskspace', '20M', '--save');
    expect(r.code).toBe(21);
    expect(r.stderr).toMatch(/in use/);
    n.ok('start', '501');
    n.ok('exec', '501', 'rm', '-f', '/root/big');
    n.ok('stop', '501');
    n.ok('set', '501', '--diskspace', '32M', '--save');
    n.ok('start', '501');
    expect(n.ok('exec', '501', 'md5sum', '/root/keep')).toMatch(/keep/);
  });

  it('vzctl compact gives the blocks of deleted files back to the host', () => {
    n.ok('exec', '501', 'dd', 'if=/dev/urandom', 'of=/root/tmp.bin', 'bs=1M', 'count=12');
    n.ok('exec', '501', 'rm', '/root/tmp.bin');
    const r = JSON.parse(n.ok('compact', '501', '--json'));
    expect(r.bytes_freed).toBeGreaterThan(8 * 2 ** 20);
    expect(n.vzctl('compact', '502').code).toBe(14);
  });

  it('destroy leaves no loop device, mount or image behind', () => {
    n.ok('stop', '501', '--fast');
    n.ok('destroy', '501');
    expect(loopsFor(n.root)).toEqual([]);
    expect(fs.existsSync(`${n.root}/private/501`)).toBe(false);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(`${n.root}/root/501`);
  });

  it('dir layout: a limit this node cannot enforce is refused with the reason, nothing is made', () => {
    const r = n.vzctl('create', '502', '--ostemplate', 'busybox', '--diskspace', '1G');
    if (r.code === 0) return; // a node with project quotas (not these machines)
    expect(r.code).toBe(60);
    expect(r.stderr).toMatch(/prjquota|project/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(n.ok('status', '502').trim()).toBe('CTID 502 deleted unmounted down');
  });

  it('image layout: --diskinodes fixes the inode count at create', () => {
    n.ok('create', '504', '--ostemplate', 'busybox', '--layout', 'image', '--diskspace', '64M', '--diskinodes', '1000');
    n.ok('start', '504');
    const made = n.ok('exec', '504', 'sh', '-c', 'i=0; while touch /root/f$i 2>/dev/null; do i=$((i+1)); done; echo $i');
    expect(Number(made)).toBeGreaterThan(500);
    expect(Number(made)).toBeLessThan(1000);
    expect(JSON.parse(n.ok('quota', '504', '--json')).inodes.hard).toBe(1000);
    const r = n.vzctl('set', '504', '--diskinodes', '5000', '--save');
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/fixed when it is created/);
    n.ok('stop', '504', '--fast');
    n.ok('destroy', '504');
  });

  it('--quotatime: a dir container on a node without quotas is refused (exit 60); an image warns it has no soft limit', () => {
    n.ok('create', '505', '--ostemplate', 'busybox');
    const r = n.vzctl('set', '505', '--quotatime', '600', '--save');
    if (r.code !== 0) {
      expect(r.code).toBe(60);
      expect(r.stderr).toMatch(/prjquota|project/);
    }
    n.ok('destroy', '505');
    n.ok('create', '506', '--ostemplate', 'busybox', '--layout', 'image', '--diskspace', '32M');
    const w = n.vzctl('set', '506', '--quotatime', '600', '--save');
    expect(w.code).toBe(0);
    expect(w.stderr).toMatch(/no soft limit.*quotatime has no effect/);
    n.ok('destroy', '506');
  });

  it('bad values: exit 21 and nothing changes', () => {
    for (const args of [['--diskspace', '10M:5M'], ['--diskspace', 'lots'], ['--layout', 'zfs'], ['--diskinodes', '-3'], ['--quotatime', '1h']]) {
      const r = n.vzctl('create', '503', '--ostemplate', 'busybox', ...args);
      expect({ args, code: r.code }).toEqual({ args, code: 21 });
    }
    expect(fs.existsSync(`${n.root}/private/503`)).toBe(false);
  });
});
