/**
 * Tenant safety on the host side (issue 13, Medium): what a container's root plants in its own
 * files must not hang, bloat or corrupt a management command, and other host users must not reach
 * a container's tree, its device node copies or the node's state.
 * - host users: a setuid binary planted by the container's root cannot be run by `nobody` from
 *   ROOT/root/CTID, and ROOT/dev/CTID is out of its reach; the container's own setuid still works;
 * - FIFOs at /etc/shadow and ~/.ssh/authorized_keys: --userpasswd and --ssh-key fail in one line
 *   at once, the lock is free again, the FIFO untouched;
 * - a 400 MB sparse /etc/passwd: --userpasswd fails in one line with a small peak RSS;
 * - a full disk during the write: the old /etc/shadow stays whole, and a new user's lines already
 *   written to group and passwd are taken back when its shadow line does not fit;
 * - vzkit.db, logs and dumps root-only, also on a node made with open modes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestNode, isRoot, REPO } from './harness.js';

const CT = '731';
const IMG = '732';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQ7b2n7cyM0lJk3fWzRX5l8VvX1qfU1vN1nGcWn0U6f tenant@test';

// A setuid probe: prints its euid and, given a path, whether it can open it read-write.
// `probe as UID PROG...` drops to UID and runs PROG (to run a setuid file as a plain user inside).
const PROBE_C = `
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc > 3 && !strcmp(argv[1], "as")) {
    if (setgid(atoi(argv[2])) || setuid(atoi(argv[2]))) { perror("setuid"); return 2; }
    execv(argv[3], argv + 3);
    perror("exec");
    return 2;
  }
  printf("euid=%d\\n", (int)geteuid());
  if (argc > 1) {
    int fd = open(argv[1], O_RDWR);
    printf("open=%s\\n", fd >= 0 ? "ok" : strerror(errno));
  }
  return 0;
}
`;

/** Runs a command as the host user nobody (no supplementary groups). */
function asNobody(cmd: string[]): { code: number; out: string } {
  // Through a shell: setpriv itself still holds root's capabilities when it calls execve.
  const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', '/bin/sh', '-c', 'exec "$@"', 'sh', ...cmd], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { code: r.status ?? 128, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

describe.skipIf(!isRoot)('tenant files and other host users', () => {
  let n: TestNode;
  let ctRoot: string;
  let uidBase: number;

  beforeAll(() => {
    n = new TestNode();
    n.ok('create', CT, '--ostemplate', 'busybox', '--devnodes', 'net/tun:rw');
    n.ok('start', CT);
    ctRoot = path.join(n.root, 'root', CT);
    uidBase = fs.statSync(path.join(n.root, 'private', CT)).uid;
    const probe = path.join(n.dir, 'probe');
    fs.writeFileSync(`${probe}.c`, PROBE_C);
    const cc = spawnSync('gcc', ['-static', '-O1', '-o', probe, `${probe}.c`], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
    fs.copyFileSync(probe, path.join(ctRoot, 'tmp/probe'));
    fs.chmodSync(path.join(ctRoot, 'tmp/probe'), 0o755);
  }, 120_000);

  afterAll(() => {
    n?.cleanup();
  });

  it('nobody cannot run a setuid binary the tenant planted, nor reach its device node copies; its own setuid works inside', () => {
    // Planted by the container's root: owned by it (host uid = its uid base), setuid.
    n.ok('exec', CT, 'sh', '-c', 'cp /tmp/probe /suid && chmod 4755 /suid');
    const st = fs.statSync(path.join(ctRoot, 'suid'));
    expect(st.uid).toBe(uidBase);
    expect(st.mode & 0o4000).toBe(0o4000);
    const tun = path.join(n.root, 'dev', CT, 'net/tun');
    expect(fs.statSync(tun).isCharacterDevice()).toBe(true);

    const run = asNobody([path.join(ctRoot, 'suid'), tun]);
    expect(run.out).not.toMatch(/euid=/);
    expect(run.code).not.toBe(0);
    for (const p of [ctRoot, path.join(ctRoot, 'etc/passwd'), tun]) expect(asNobody(['stat', p]).code, p).not.toBe(0);
    expect(asNobody(['ls', path.join(n.root, 'dev', CT)]).code).not.toBe(0);
    expect(asNobody(['cat', path.join(ctRoot, 'etc/passwd')]).code).not.toBe(0);

    // Inside, the container's own setuid binaries still work (no nosuid on its root).
    expect(n.ok('exec', CT, '/tmp/probe', 'as', '1000', '/suid').trim()).toBe('euid=0');
    // And the device node is still there for the container.
    expect(n.ok('exec', CT, 'sh', '-c', 'test -c /dev/net/tun && echo yes').trim()).toBe('yes');
  });

  it('a FIFO at /etc/shadow: --userpasswd fails at once in one line, the lock is free, the FIFO untouched', () => {
    n.ok('exec', CT, 'sh', '-c', 'cp /etc/shadow /tmp/shadow.keep && rm /etc/shadow && mkfifo /etc/shadow');
    const t0 = Date.now();
    const r = n.run('vzctl', ['set', CT, '--userpasswd', 'root:x'], { timeout: 20_000 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(128); // not killed by the timeout
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/\/etc\/shadow.*FIFO/);
    // The lock is free again: a command that takes it works at once.
    expect(n.ok('status', CT)).toMatch(/running/);
    n.ok('set', CT, '--hostname', 'after-fifo', '--save');
    expect(n.ok('exec', CT, 'sh', '-c', 'test -p /etc/shadow && echo fifo').trim()).toBe('fifo');
    n.ok('exec', CT, 'sh', '-c', 'rm /etc/shadow && mv /tmp/shadow.keep /etc/shadow');
  });

  it('a FIFO at /root/.ssh/authorized_keys: --ssh-key fails at once in one line, the lock is free, the FIFO untouched', () => {
    n.ok('exec', CT, 'sh', '-c', 'mkdir -p /root/.ssh && rm -f /root/.ssh/authorized_keys && mkfifo /root/.ssh/authorized_keys');
    const t0 = Date.now();
    const r = n.run('vzctl', ['set', CT, '--ssh-key', KEY], { timeout: 20_000 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(128);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/authorized_keys.*FIFO/);
    n.ok('set', CT, '--hostname', 'after-fifo2', '--save');
    expect(n.ok('exec', CT, 'sh', '-c', 'test -p /root/.ssh/authorized_keys && echo fifo').trim()).toBe('fifo');
    n.ok('exec', CT, 'rm', '/root/.ssh/authorized_keys');
    // A regular file again: the key goes in.
    n.ok('set', CT, '--ssh-key', KEY);
    expect(n.ok('exec', CT, 'cat', '/root/.ssh/authorized_keys')).toContain(KEY);
  });

  it('FIFOs at /etc/hostname and /etc/hosts: set --hostname --save sets and stores it with a warning each; restart works', () => {
    n.ok('exec', CT, 'sh', '-c', 'cp /etc/hosts /tmp/hosts.keep; rm -f /etc/hostname /etc/hosts && mkfifo /etc/hostname /etc/hosts');
    const t0 = Date.now();
    const r = n.run('vzctl', ['set', CT, '--hostname', 'fifo-host', '--save'], { timeout: 20_000 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    expect(r.stderr).toMatch(/warning: CT \d+: \/etc\/hostname not written: .*FIFO/);
    expect(r.stderr).toMatch(/\/etc\/hosts.*FIFO/);
    // Applied live and stored, never half: the live name and the stored one agree.
    expect(n.ok('exec', CT, 'hostname').trim()).toBe('fifo-host');
    expect(n.vzlist('-H', '-o', 'hostname', CT).stdout.trim()).toBe('fifo-host');
    n.ok('restart', CT);
    expect(n.ok('exec', CT, 'hostname').trim()).toBe('fifo-host');
    expect(n.ok('exec', CT, 'sh', '-c', 'test -p /etc/hostname && test -p /etc/hosts && echo fifos').trim()).toBe('fifos');
    n.ok('exec', CT, 'sh', '-c', 'rm /etc/hostname /etc/hosts && mv /tmp/hosts.keep /etc/hosts');
  });

  it('a 400 MB sparse /etc/passwd: --userpasswd fails in one line and vzctl stays small', () => {
    n.ok('exec', CT, 'sh', '-c', 'cp /etc/passwd /tmp/passwd.keep && truncate -s 400M /etc/passwd');
    const stats = path.join(n.dir, 'time.txt');
    const t0 = Date.now();
    const r = spawnSync('/usr/bin/time', ['-v', '-o', stats, path.join(REPO, 'dist', 'vzctl'), 'set', CT, '--userpasswd', 'root:x'], {
      env: n.env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/\/etc\/passwd.*larger than/);
    const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(fs.readFileSync(stats, 'utf8'))?.[1]);
    expect(kb).toBeGreaterThan(0);
    expect(kb).toBeLessThan(200 * 1024);
    n.ok('exec', CT, 'sh', '-c', 'mv /tmp/passwd.keep /etc/passwd');
    n.ok('set', CT, '--userpasswd', 'root:x');
  });

  it('a write that fails (the container\'s disk full) leaves the old /etc/shadow whole; a half-done --userpasswd is taken back', () => {
    n.ok('create', IMG, '--ostemplate', 'busybox', '--layout', 'image', '--diskspace', '24M');
    n.ok('start', IMG);
    const root = path.join(n.root, 'root', IMG);
    const shadow = path.join(root, 'etc/shadow');
    // One block (4 KiB) of shadow now; the new root hash makes it need two.
    const lines = ['root:*:19000:0:99999:7:::'];
    for (let i = 0; lines.join('\n').length < 4096 - 60; i++) lines.push(`u${i}:!:19000:0:99999:7:::`);
    const before = lines.join('\n') + '\n';
    expect(before.length).toBeLessThanOrEqual(4096);
    fs.writeFileSync(shadow, before);
    const base = fs.statSync(root).uid;
    fs.chownSync(shadow, base, base);
    fs.chmodSync(shadow, 0o640);
    // Twice: ext4's delayed allocation reserves more than it finally uses.
    n.ok('exec', IMG, 'sh', '-c', 'dd if=/dev/zero of=/one bs=4k count=1 2>/dev/null; sync; dd if=/dev/zero of=/fill bs=64k 2>/dev/null; sync; dd if=/dev/zero of=/fill2 bs=4k 2>/dev/null; sync; true');
    const r = n.vzctl('set', IMG, '--userpasswd', 'root:newpass');
    expect(r.code).toBe(46);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/\/etc\/shadow/);
    expect(fs.readFileSync(shadow, 'utf8')).toBe(before);
    const st = fs.statSync(shadow);
    expect([st.uid, st.mode & 0o7777]).toEqual([base, 0o640]);
    expect(fs.readdirSync(path.join(root, 'etc')).filter((f) => f.includes('vzkit'))).toEqual([]);
    // One block free: a new user's group and passwd lines and home go in, then its shadow line
    // does not fit; what was written is taken back.
    const etc = () => ['passwd', 'group', 'shadow'].map((f) => fs.readFileSync(path.join(root, 'etc', f), 'utf8'));
    const files = etc();
    n.ok('exec', IMG, 'sh', '-c', 'rm /one && sync');
    const r2 = n.vzctl('set', IMG, '--userpasswd', 'bob:pw');
    expect(r2.code).toBe(46);
    expect(r2.stderr.trim().split('\n')).toHaveLength(1);
    expect(etc()).toEqual(files);
    expect(fs.existsSync(path.join(root, 'home/bob'))).toBe(false);
    // With room again, the same command works and keeps the file's owner and mode.
    n.ok('exec', IMG, 'rm', '/fill', '/fill2');
    n.ok('set', IMG, '--userpasswd', 'root:newpass');
    const after = fs.readFileSync(shadow, 'utf8');
    expect(after).toMatch(/^root:\$y\$/m);
    expect(after).toContain('u1:!:19000');
    const st2 = fs.statSync(shadow);
    expect([st2.uid, st2.mode & 0o7777]).toEqual([base, 0o640]);
    // Nobody cannot reach an image container's tree either.
    expect(asNobody(['stat', path.join(root, 'etc/shadow')]).code).not.toBe(0);
    n.ok('stop', IMG, '--fast');
    n.ok('destroy', IMG);
  });

  it('vzkit.db, logs and dumps are root-only, also on a node made with open modes', () => {
    const db = path.join(n.root, 'vzkit.db');
    const mode = (p: string) => fs.statSync(p).mode & 0o777;
    // An older node: the modes vzkit used to leave.
    fs.chmodSync(db, 0o644);
    fs.chmodSync(path.join(n.root, 'log'), 0o755);
    fs.mkdirSync(path.join(n.root, 'backup'), { mode: 0o755 });
    fs.chmodSync(path.join(n.root, 'backup'), 0o755);
    fs.chmodSync(path.join(n.root, 'root'), 0o711);
    n.ok('set', CT, '--hostname', 'modes', '--save');
    for (const f of [db, `${db}-wal`, `${db}-shm`]) if (fs.existsSync(f)) expect(mode(f) & 0o077, f).toBe(0);
    for (const d of ['log', 'dump', 'backup', 'run', 'lock', 'private']) expect(mode(path.join(n.root, d)), d).toBe(0o700);
    // ROOT/root: closed to group and others (its ACL lets each container's root uid pass).
    expect(mode(path.join(n.root, 'root')) & 0o007).toBe(0);
    expect(asNobody(['cat', db]).code).not.toBe(0);
    expect(asNobody(['ls', path.join(n.root, 'root')]).code).not.toBe(0);
    expect(asNobody(['ls', path.join(n.root, 'log')]).code).not.toBe(0);
    // The container still starts after the change (its root uid passes the gate).
    n.ok('stop', CT, '--fast');
    n.ok('start', CT);
    expect(n.ok('exec', CT, 'hostname').trim()).toBe('modes');
  });
});
