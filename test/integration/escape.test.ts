/**
 * Escape attempts from inside a container, as its root, with a static C probe
 * (test/probe/escape.c) and shell: each must fail and leave the host untouched. Also the host
 * side: symlinks and `..` chains planted in the container's files never redirect a host write
 * (passwords, SSH keys, hostname). See the isolation table in the README.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { TestNode, isRoot, REPO } from './harness.js';
import { DENIED, MISSING } from '../probe/denied.js';

const CT = '711';

describe.skipIf(!isRoot)('escape attempts from inside (root in the container)', () => {
  let n: TestNode;
  let sleeper: ChildProcess;
  let results: Map<string, string>;
  let ctRoot: string;

  beforeAll(() => {
    n = new TestNode();
    n.ok('create', CT, '--ostemplate', 'busybox');
    n.ok('start', CT);
    ctRoot = path.join(n.root, 'root', CT);
    const probe = path.join(n.dir, 'escape-probe');
    // escape_abi.c twice: the i386 and the x32 numbers, each from its kernel header.
    const src = (f: string) => path.join(REPO, 'test/probe', f);
    for (const [obj, defs] of [['i386.o', ['-DPROBE_I386']], ['x32.o', []]] as const) {
      const cc = spawnSync('gcc', ['-O1', ...defs, '-c', '-o', path.join(n.dir, obj), src('escape_abi.c')], { encoding: 'utf8' });
      if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
    }
    const cc = spawnSync('gcc', ['-static', '-O1', '-o', probe, src('escape.c'), path.join(n.dir, 'i386.o'), path.join(n.dir, 'x32.o')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
    fs.copyFileSync(probe, path.join(ctRoot, 'tmp/escape-probe'));
    fs.chmodSync(path.join(ctRoot, 'tmp/escape-probe'), 0o755);
    sleeper = spawn('sleep', ['300'], { stdio: 'ignore' });
    // The host's root block device: what a container would love to mount.
    const dev = fs.statSync('/').dev;
    const major = Math.floor(dev / 256) & 0xfff;
    const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    const blk = fs.readdirSync('/dev').find((d) => {
      try {
        const st = fs.statSync(`/dev/${d}`);
        return st.isBlockDevice() && st.rdev === dev;
      } catch {
        return false;
      }
    });
    const out = n.ok('exec', CT, '/tmp/escape-probe', String(sleeper.pid), blk ? `/dev/${blk}` : '/dev/vda', String(major), String(minor));
    results = new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
  }, 120_000);

  afterAll(() => {
    sleeper?.kill('SIGKILL');
    n?.cleanup();
  });

  // Every denied syscall through each ABI: x86_64, int 0x80 (i386 numbers, MAP_32BIT buffers)
  // and x32 (refused whole). The probe's arguments make the call succeed where only the filter
  // stands in the way (keyctl, add_key, userfaultfd, perf_event_open, io_uring_setup...).
  const abiRows = (['x86_64', 'i386', 'x32'] as const).flatMap((abi) =>
    Object.entries(DENIED).filter(([name]) => !MISSING[abi].includes(name)).map(([name, err]) => [`${abi}:${name}`, abi === 'x32' ? 'ENOSYS' : err] as const));

  it('int 0x80 works at all here (so an i386 refusal is the filter\'s), and x32 is refused whole', () => {
    expect(results.get('x86_64:getpid')).toBe('ok');
    expect(results.get('i386:getpid')).toBe('ok');
    expect(results.get('x32:getpid')).toBe('ENOSYS');
    expect([...results.keys()].filter((k) => /^(x86_64|i386|x32):/.test(k) && !k.endsWith(':getpid')).sort()).toEqual(abiRows.map(([k]) => k).sort());
  });

  it.each(abiRows)('%s fails (%s)', (name, want) => {
    expect({ name, got: results.get(name) }).toEqual({ name, got: want });
  });

  it.each([
    ['settimeofday', 'EPERM'],
    ['mknod_block', 'EPERM'],
    ['mknod_char_mem', 'EPERM'],
    ['mount_host_blockdev', 'EPERM'],
    ['signal_host_process', 'ESRCH'],
    ['see_host_process', 'ENOENT'],
    ['raise_memory_limit', expect.stringMatching(/^E/)],
    ['console_tiocsti', 'EPERM'],
    ['capbnd_sys_module', 'dropped'],
    ['capbnd_sys_rawio', 'dropped'],
  ])('%s fails (%s)', (name, want) => {
    expect({ name, got: results.get(name) }).toEqual({ name, got: want });
  });

  it('host /proc/sys and /sys stay unwritten, also after the container removes its read-only binds', () => {
    expect(results.get('write_proc_sys')).toMatch(/^E(ROFS|ACCES|PERM)$/);
    expect(results.get('write_sys')).toMatch(/^E(ROFS|ACCES|NOENT|PERM)$/);
    // The read-only binds and masks are made inside the container's own user namespace, so its
    // root may undo them (as with LXC's and Docker's user-namespaced containers: README). The
    // kernel's own checks are the wall that holds:
    const panic = fs.readFileSync('/proc/sys/kernel/panic', 'utf8');
    const r = n.vzctl('exec', CT, 'sh', '-c', 'mount -o remount,bind,rw /proc/sys; echo 3 > /proc/sys/vm/drop_caches; echo 77 > /proc/sys/kernel/panic; umount /proc/timer_list; cat /proc/timer_list >/dev/null');
    expect(r.stderr).toMatch(/drop_caches: Permission denied/);
    expect(r.stderr).toMatch(/panic: Permission denied/);
    expect(r.stderr).toMatch(/timer_list'?: Permission denied/);
    expect(fs.readFileSync('/proc/sys/kernel/panic', 'utf8')).toBe(panic);
  });

  it('/dev holds only the allow-list; nothing from the host', () => {
    const devs = n.ok('exec', CT, 'ls', '-A', '/dev').trim().split(/\s+/).sort();
    const allowed = ['console', 'fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero'];
    expect(devs.filter((d) => !allowed.includes(d))).toEqual([]);
    expect(devs).not.toContain('vda');
    expect(devs).not.toContain('mem');
  });

  it('exec and enter get the same seccomp filter and bounding set as init', () => {
    const st = n.ok('exec', CT, 'cat', '/proc/self/status');
    expect(st).toMatch(/^Seccomp:\s+2$/m);
    const bnd = BigInt('0x' + /^CapBnd:\s+([0-9a-f]+)$/m.exec(st)![1]);
    expect((bnd >> 16n) & 1n).toBe(0n); // sys_module
    expect((bnd >> 25n) & 1n).toBe(0n); // sys_time
    expect((bnd >> 21n) & 1n).toBe(1n); // sys_admin (in its own namespaces)
    const probe = n.vzctl('exec', CT, '/tmp/escape-probe').stdout;
    expect(probe).toMatch(/^x86_64:init_module EPERM$/m);
    expect(probe).toMatch(/^i386:keyctl ENOSYS$/m);
  });

  it('what init starts (its boot script) gets the same filter: the deny list through all three ABIs', () => {
    // /etc/rc.local runs from rcS, busybox init's sysinit action: a child of the container's init.
    const rc = path.join(ctRoot, 'etc/rc.local');
    expect(fs.existsSync(rc)).toBe(false);
    try {
      fs.writeFileSync(rc, '#!/bin/sh\n/tmp/escape-probe --abi > /tmp/probe-init.out 2>&1\n', { mode: 0o755 });
      n.ok('restart', CT, '--fast');
      const out = path.join(ctRoot, 'tmp/probe-init.out');
      for (let i = 0; i < 100 && !(fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('x32:getpid')); i++) spawnSync('sleep', ['0.1']);
      const got = new Map(fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => l.split(' ') as [string, string]));
      expect(got.get('i386:getpid')).toBe('ok');
      expect(Object.fromEntries(abiRows.map(([k]) => [k, got.get(k)]))).toEqual(Object.fromEntries(abiRows));
    } finally {
      fs.rmSync(rc, { force: true });
    }
  }, 60_000);

  it('--capability sys_time:on brings a capability back at the next start; a bad name is exit 21', () => {
    expect(n.vzctl('set', CT, '--capability', 'sys_tim:on', '--save').code).toBe(21);
    expect(n.vzctl('set', CT, '--capability', 'nonsense', '--save').code).toBe(21);
    n.ok('set', CT, '--capability', 'sys_time:on', '--save');
    n.ok('restart', CT, '--fast');
    const bnd = BigInt('0x' + /^CapBnd:\s+([0-9a-f]+)$/m.exec(n.ok('exec', CT, 'cat', '/proc/1/status'))![1]);
    expect((bnd >> 25n) & 1n).toBe(1n);
    expect((bnd >> 16n) & 1n).toBe(0n);
    n.ok('set', CT, '--capability', 'sys_time:off', '--save');
  }, 60_000);

  it('planted symlinks and .. chains never redirect a host write (passwords, SSH keys, hostname)', () => {
    // Host files at the paths the links name: they must stay exactly as they are.
    const bait = path.join(n.dir, 'bait');
    fs.mkdirSync(path.join(bait, 'ssh'), { recursive: true });
    fs.writeFileSync(path.join(bait, 'shadow'), 'host shadow\n');
    fs.writeFileSync(path.join(bait, 'passwd'), 'host passwd\n');
    fs.writeFileSync(path.join(bait, 'hostname'), 'host hostname\n');
    const up = '../'.repeat(12);
    const plant = [
      `ln -sf ${bait}/shadow /etc/shadow`,
      `ln -sf ${up}${bait.slice(1)}/passwd /etc/group`,
      `ln -sf ${bait}/hostname /etc/hostname`,
      `rm -rf /root/.ssh && ln -s ${up}${bait.slice(1)}/ssh /root/.ssh`,
    ].join(' && ');
    n.ok('exec', CT, 'sh', '-c', plant);
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQ7b2n7cyM0lJk3fWzRX5l8VvX1qfU1vN1nGcWn0U6f bait@test';
    // Each write either lands inside the container (where the links resolve within its root) or
    // fails with one clear line, since the linked-to directories do not exist in there.
    for (const args of [['--userpasswd', 'root:pw'], ['--userpasswd', 'mallory:pw'], ['--ssh-key', key], ['--hostname', 'evil', '--save']]) {
      const r = n.vzctl('set', CT, ...args);
      if (r.code !== 0) expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    n.vzctl('restart', CT, '--fast');
    expect(fs.readFileSync(path.join(bait, 'shadow'), 'utf8')).toBe('host shadow\n');
    expect(fs.readFileSync(path.join(bait, 'passwd'), 'utf8')).toBe('host passwd\n');
    expect(fs.readFileSync(path.join(bait, 'hostname'), 'utf8')).toBe('host hostname\n');
    expect(fs.readdirSync(path.join(bait, 'ssh'))).toEqual([]);
  }, 60_000);
  it('backup paths: planted links are archived as links, restored as links, and no host file is read or written', () => {
    const bait = path.join(n.dir, 'bait-backup');
    fs.writeFileSync(bait, 'host secret\n');
    const up = '../'.repeat(12);
    n.ok('exec', CT, 'sh', '-c', `ln -sf ${bait} /root/abs-link && ln -sf ${up}${bait.slice(1)} /root/rel-link && mkdir -p /root/d && ln -sfn ${path.dirname(bait)} /root/d/dirlink`);
    const dumpdir = path.join(n.dir, 'dumps-escape');
    fs.mkdirSync(dumpdir);
    const run = (cmd: string, ...args: string[]) => spawnSync(path.join(REPO, 'dist', cmd), args, { env: n.env, encoding: 'utf8', timeout: 120_000 });
    const d = run('vzdump', '--mode', 'suspend', '--compress', 'none', '--dumpdir', dumpdir, CT);
    expect(d.status, d.stderr).toBe(0);
    const archive = path.join(dumpdir, fs.readdirSync(dumpdir).find((f) => f.endsWith('.tar'))!);
    const list = spawnSync('tar', ['-tvf', archive], { encoding: 'utf8' }).stdout;
    expect(list).toMatch(/^l.* root\/root\/abs-link -> /m);
    expect(list).toMatch(/^l.* root\/root\/rel-link -> /m);
    expect(spawnSync('tar', ['-xOf', archive, 'root/root/abs-link'], { encoding: 'utf8' }).stdout).not.toContain('host secret');
    const r = run('vzrestore', archive, '712');
    expect(r.status, r.stderr).toBe(0);
    const restored = path.join(n.root, 'private', '712', 'root');
    expect(fs.lstatSync(path.join(restored, 'abs-link')).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(path.join(restored, 'd', 'dirlink')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(bait, 'utf8')).toBe('host secret\n');
    expect(fs.readdirSync(path.dirname(bait)).filter((f) => f.startsWith('bait-backup'))).toEqual(['bait-backup']);
    n.ok('destroy', '712');
  }, 120_000);
});
