/**
 * What a container sees from inside (test/probe/ctprobe.sh run through vzctl exec): its own init
 * as PID 1, an unprivileged uid map, its hostname, its own mounts, /dev and loopback only.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { TestNode, isRoot, REPO } from './harness.js';

describe.skipIf(!isRoot)('isolation seen from inside (probe)', () => {
  let n: TestNode;
  let probe: Record<string, string>;
  let uidBase: number;
  beforeAll(() => {
    n = new TestNode();
    n.ok('create', '201', '--ostemplate', 'busybox', '--hostname', 'probe.example.com');
    n.ok('start', '201');
    uidBase = JSON.parse(n.vzlist('-a', '-j', '-o', 'ctid,uid_base').stdout)[0].uid_base;
    const script = fs.readFileSync(path.join(REPO, 'test/probe/ctprobe.sh'), 'utf8');
    const r = n.run('vzctl', ['exec', '201', 'sh', '-s'], { input: script });
    expect(r.code).toBe(0);
    probe = Object.fromEntries(
      r.stdout
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  });
  afterAll(() => n?.cleanup());

  it("runs the template's own init as PID 1 and shows only the container's processes", () => {
    expect(probe.pid1).toBe('init');
    expect(Number(probe.nprocs)).toBeLessThan(10);
  });

  it('maps root to an unprivileged host range of 65536 ids', () => {
    expect(probe.uid).toBe('0');
    expect(probe.uid_map).toBe(`0 ${uidBase} 65536`);
    expect(probe.gid_map).toBe(`0 ${uidBase} 65536`);
    expect(uidBase).toBeGreaterThanOrEqual(65536);
  });

  it('has its own hostname and a cgroup namespace rooted at itself', () => {
    expect(probe.hostname).toBe('probe.example.com');
    expect(probe.cgroup).toBe('/');
  });

  it('mounts /proc, a read-only /sys, a tmpfs /dev with devpts and a console', () => {
    expect(probe['mount:/proc']).toMatch(/^proc:rw/);
    expect(probe['mount:/sys']).toMatch(/^sysfs:ro/);
    expect(probe['mount:/dev']).toMatch(/^tmpfs:/);
    expect(probe['mount:/dev/pts']).toMatch(/^devpts:/);
    expect(probe['mount:/dev/console']).toBeDefined();
    for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'console', 'pts']) {
      expect(probe.dev!.split(' ')).toContain(d);
    }
    expect(probe.console_tty).toBe('yes');
    expect(probe.null_write).toBe('ok');
    expect(probe.urandom_read).toBe('8');
    expect(probe.sys_write).toBe('no');
    expect(probe.mknod).toBe('no');
  });

  it('has only loopback, and it is up', () => {
    expect(probe.ifaces!.trim()).toBe('lo');
    expect(Number(probe.lo_flags) & 1).toBe(1);
  });

  it('cannot reach the host file system through /proc/1/root', () => {
    fs.writeFileSync('/etc/vzkit-host-marker', 'x');
    try {
      const r = n.vzctl('exec', '201', 'sh', '-c', 'test -e /proc/1/root/etc/vzkit-host-marker && echo yes || echo no');
      expect(r.stdout.trim()).toBe('no');
    } finally {
      fs.rmSync('/etc/vzkit-host-marker', { force: true });
    }
  });

  it("delegates its cgroup: root inside makes sub-cgroups but cannot raise its own limits", () => {
    const script = [
      'mkdir -p /tmp/cg && mount -t cgroup -o pids none /tmp/cg 2>/dev/null || mount -t cgroup2 none /tmp/cg',
      'mkdir /tmp/cg/sub && echo $$ > /tmp/cg/sub/cgroup.procs && echo moved',
      'grep -q sub /proc/self/cgroup && echo inside-sub',
      '(echo 1 > /tmp/cg/pids.max) 2>/dev/null && echo raised || echo refused',
    ].join('; ');
    const out = n.ok('exec', '201', 'sh', '-c', script);
    expect(out).toContain('moved');
    expect(out).toContain('inside-sub');
    expect(out).toContain('refused');
  });
});
