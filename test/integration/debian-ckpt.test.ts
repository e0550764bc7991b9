/**
 * Checkpoint of a stock Debian 12 VPS with systemd (issue 14): `vzctl suspend` / `vzctl resume`
 * and `vzmigrate --online` on the two-node rig, with a customer's own sandboxed unit
 * (ProtectHostname=, PrivateTmp=, PrivateNetwork=, ProtectSystem=strict) writing a counter every
 * 100 ms, a daemon left behind by `vzctl exec`, and an SSH session opened before the migration.
 * The template cache is debian.test.ts's (VZKIT_TEST_TEMPLATE_CACHE, built once per machine);
 * run with VZKIT_DEBIAN_TESTS=1 like debian.test.ts. VZKIT_CRIU names another criu build.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { REPO, TestNode, isRoot, pidsInNode, waitFor } from './harness.js';
import { BUILD_MS, debianRig, guest, memoryLimit } from './debian-guest.js';
import { MigrationRig } from './migrate/rig.js';

const CRIU = process.env.VZKIT_CRIU ?? '/opt/vzkit/criu/sbin/criu';
const criuReady = isRoot && spawnSync(CRIU, ['check'], { encoding: 'utf8' }).status === 0;
/** vzkit's CRIU patch 0003 (nested UTS and IPC namespaces), which changes the namespace policy. */
const NESTED_UTS_IPC = criuReady && spawnSync(CRIU, ['check', '--feature', 'nested_uts_ipc'], { encoding: 'utf8' }).status === 0;
const enabled = criuReady && process.env.VZKIT_DEBIAN_TESTS === '1';
const CACHE = process.env.VZKIT_TEST_TEMPLATE_CACHE ?? '/var/cache/vzkit-test/templates';
// The default node config otherwise (sysinfo(2) intercepted: CRIU patch 0002 hands its listeners back).
const NODE_CONFIG = `template_cache: ${CACHE}\n`;

describe.skipIf(!enabled)('Debian 12 with systemd: suspend and resume (CRIU)', () => {
  let n: TestNode;
  let g: ReturnType<typeof guest>;
  const ADDR = `198.18.${10 + Math.floor(Math.random() * 240)}.${100 + Math.floor(Math.random() * 100)}`;

  beforeAll(() => {
    fs.mkdirSync(CACHE, { recursive: true });
    n = new TestNode(NODE_CONFIG);
    g = guest(n);
    const b = n.run('vzctl', ['template', 'build', 'debian-12'], { timeout: BUILD_MS });
    if (b.code !== 0) throw new Error(`template build: ${b.stderr}`);
  }, BUILD_MS);
  afterAll(() => n?.cleanup());

  it('a stock Debian 12 VPS with a sandboxed customer unit and an exec daemon: suspend, resume, everything goes on', () => {
    g.boot('811', ADDR);
    // The namespace policy: the kinds CRIU cannot dump are refused (systemd carries on), the others work.
    // A CRIU with vzkit's patch 0003 dumps nested UTS and IPC: those stay allowed, ProtectHostname= holds.
    const journal = () => g.exec('811', 'journalctl', '-u', 'counter', '--no-pager', '-q').stdout;
    if (NESTED_UTS_IPC) {
      expect(g.exec('811', 'unshare', '-u', '-i', 'true').code).toBe(0);
      expect(journal()).not.toMatch(/UTS namespace setup is prohibited/);
      const pid = g.exec('811', 'unshare', '-p', '-f', 'true');
      expect(pid.code).not.toBe(0);
      expect(pid.stderr).toMatch(/Operation not permitted/);
    } else {
      const uts = g.exec('811', 'unshare', '-u', 'true');
      expect(uts.code).not.toBe(0);
      expect(uts.stderr).toMatch(/Operation not permitted/);
      expect(journal()).toMatch(/ProtectHostname=yes is configured, but UTS namespace setup is prohibited/);
    }
    expect(g.exec('811', 'unshare', '-m', '-n', 'true').code).toBe(0);
    for (let round = 0; round < 2; round++) {
      const before = g.counter('811').length;
      const t0 = Date.now();
      const s = n.vzctl('suspend', '811');
      const t1 = Date.now();
      expect(s.code, s.stderr).toBe(0);
      expect(n.ok('status', '811')).toMatch(/suspended/);
      const t2 = Date.now();
      const r = n.vzctl('resume', '811');
      if (process.env.VZKIT_TEST_SHOW_TIMES) process.stdout.write(`suspend ${t1 - t0} ms, resume ${Date.now() - t2} ms (vzctl commands)\n`);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      g.healthy('811', before);
      g.inNodeCgroups('811');
      // The container's limits are this start's, not the dump's sub-cgroups'.
      expect(memoryLimit(n.node, 811)).toBe(384 * 2 ** 20);
    }
    // systemd still manages its tree: a restart of the unit makes its cgroup again (the counter starts over).
    expect(g.exec('811', 'systemctl', 'restart', 'counter').code).toBe(0);
    expect(g.exec('811', 'systemctl', 'is-active', 'counter').stdout.trim()).toBe('active');
    g.inNodeCgroups('811');
    expect(spawnSync('busybox', ['ping', '-c1', '-W2', ADDR]).status).toBe(0);
  }, 300_000);

  it('--features nesting:on is stored and shown; suspend and vzdump --mode snapshot refuse it in one line, before freezing; nesting works inside; a failed dump names its cause and leaves it running', () => {
    n.ok('set', '811', '--features', 'nesting:on', '--save');
    expect(n.vzlist('-a', '-H', '-o', 'ctid,features').stdout.trim()).toMatch(/^811\s+nesting:on$/m);
    n.ok('restart', '811');
    expect(g.running('811')).toBe('running');
    // Allowed now: a namespace of a kind CRIU cannot dump, made inside.
    expect(g.exec('811', 'unshare', '-u', 'true').code).toBe(0);
    const pid0 = fs.readFileSync(path.join(n.root, 'run', '811.pid'), 'utf8');
    const s = n.vzctl('suspend', '811');
    expect(s.code).toBe(16);
    expect(s.stderr.trim().split('\n')).toHaveLength(1);
    expect(s.stderr).toMatch(/nesting/);
    const dumpdir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-debckpt-'));
    try {
      const d = spawnSync(path.join(REPO, 'dist', 'vzdump'), ['--mode', 'snapshot', '--dumpdir', dumpdir, '811'], { env: n.env, encoding: 'utf8', timeout: 120_000 });
      expect(d.status).toBe(16);
      expect(d.stderr.trim().split('\n')).toHaveLength(1);
      expect(d.stderr).toMatch(/nesting/);
      expect(fs.readdirSync(dumpdir)).toEqual([]);
    } finally {
      fs.rmSync(dumpdir, { recursive: true, force: true });
    }
    // Untouched: the same init and monitor, running, never frozen.
    expect(fs.readFileSync(path.join(n.root, 'run', '811.pid'), 'utf8')).toBe(pid0);
    expect(g.running('811')).toBe('running');
    expect(g.exec('811', 'systemctl', 'is-active', 'counter').stdout.trim()).toBe('active');
    // With CRIU patch 0003 the services' UTS namespaces would not stop the dump: a PID namespace
    // (made now, while nesting is on) does, with either CRIU.
    g.exec('811', 'sh', '-c', 'setsid unshare -p -f sleep 100000 </dev/null >/dev/null 2>&1 &');
    expect(waitFor(() => /sleep 100000/.test(g.exec('811', 'ps', '-eo', 'args').stdout), 10_000)).toBe(true);
    n.ok('set', '811', '--features', 'nesting:off', '--save');
    expect(n.vzlist('-a', '-H', '-o', 'ctid,features').stdout.trim()).toMatch(/^811\s+nesting:off$/m);
    // Set off but not restarted: its services still hold UTS namespaces. The dump itself fails,
    // with CRIU's own cause in one line, and the container goes on as it was.
    const f = n.vzctl('suspend', '811');
    expect(f.code).toBe(16);
    expect(f.stderr.trim().split('\n')).toHaveLength(1);
    expect(f.stderr).toMatch(/criu dump failed: .*Can't dump nested (pid|uts) namespace/);
    g.exec('811', 'pkill', '-f', 'sleep 100000');
    expect(fs.readFileSync(path.join(n.root, 'run', '811.pid'), 'utf8')).toBe(pid0);
    expect(n.ok('status', '811')).toMatch(/running/);
    expect(g.running('811')).toBe('running');
    const c0 = g.counter('811').length;
    expect(waitFor(() => g.counter('811').length > c0 + 3, 10_000)).toBe(true);
    const bad = n.vzctl('set', '811', '--features', 'docker:on', '--save');
    expect(bad.code).toBe(21);
    expect(bad.stderr).toMatch(/unknown feature/);
  }, 300_000);
});

describe.skipIf(!enabled || !fs.existsSync('/usr/sbin/sshd'))('Debian 12 with systemd: vzmigrate --online with an SSH session open', () => {
  let rig: MigrationRig;
  let tmp: string;
  let sshSession: ChildProcess | undefined;
  let route: string | undefined;
  const mig = (...args: string[]) => rig.src.run('vzmigrate', [`--ssh=${rig.sshOptions()}`, ...args], { timeout: 300_000 });

  beforeAll(() => {
    fs.mkdirSync(CACHE, { recursive: true });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-debmig-'));
    rig = debianRig(NODE_CONFIG);
  }, BUILD_MS);
  afterAll(() => {
    sshSession?.kill('SIGKILL');
    if (route) spawnSync('ip', ['route', 'del', route]);
    rig?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('online: the SSH session goes on, the counter goes on, running on DEST in its cgroups, the address answers there, nothing left here', async () => {
    const { src, dst } = rig;
    const gs = guest(src);
    const gd = guest(dst);
    const addr = rig.ctAddr(12);
    gs.boot('812', addr);
    // An authorized key put in from the host side; the session is the host's, to the guest's sshd.
    const key = path.join(tmp, 'id_ed25519');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vzkit-test', '-f', key]);
    src.ok('set', '812', '--ssh-key', fs.readFileSync(`${key}.pub`, 'utf8').trim());
    // After the move, the host reaches the address through DEST's link: a /30 route under the
    // source's /32 (which goes away with the container), so no packet has nowhere to go.
    route = `${addr.replace(/\.\d+$/, '.12')}/30`;
    expect(spawnSync('ip', ['route', 'add', route, 'via', rig.destAddr]).status).toBe(0);
    sshSession = spawn('ssh', ['-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-o', 'ServerAliveInterval=0', `root@${addr}`, 'sh'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    sshSession.stdout!.on('data', (d) => (out += d));
    const ask = async (cmd: string, mark: string, ms = 30_000) => {
      sshSession!.stdin!.write(`${cmd}; echo ${mark}\n`);
      const end = Date.now() + ms;
      while (!out.includes(mark) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      return out;
    };
    expect(await ask('hostname', 'MARK-BEFORE')).toMatch(/deb812\nMARK-BEFORE/);
    // Marked not live-migratable: refused in one line at preflight, nothing frozen or made on DEST.
    src.ok('set', '812', '--features', 'nesting:on', '--save');
    const refused = mig('--online', rig.destAddr, '812');
    expect(refused.code).toBe(16);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/preflight.*nesting/);
    expect(dst.vzctl('status', '812').stdout).toMatch(/deleted/);
    src.ok('set', '812', '--features', 'nesting:off', '--save');
    const before = gs.counter('812').length;
    const r = mig('--online', '-t', rig.destAddr, '812');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const frozen = Number(/frozen time\s+([\d.]+) s/.exec(r.stdout)?.[1]);
    if (process.env.VZKIT_TEST_SHOW_TIMES) process.stdout.write(r.stdout);
    // The same session, after the move: the command runs on DEST.
    expect(await ask('cat /proc/sys/kernel/hostname; systemctl is-system-running', 'MARK-AFTER')).toMatch(/deb812\nrunning\nMARK-AFTER/);
    expect(sshSession.exitCode).toBe(null);
    expect(dst.ok('status', '812')).toMatch(/running/);
    gd.healthy('812', before, frozen * 1000);
    // In DEST's own cgroups (another node name), not the source's.
    gd.inNodeCgroups('812');
    expect(memoryLimit(dst.node, 812)).toBe(384 * 2 ** 20);
    expect(rig.pingFromDest(addr)).toBe(true);
    // The source has no copy: no record, no process in its cgroups, no route.
    expect(src.vzctl('status', '812').stdout).toMatch(/deleted/);
    expect(pidsInNode(src.node)).toEqual([]);
    expect(spawnSync('ip', ['route', 'show', `${addr}/32`], { encoding: 'utf8' }).stdout.trim()).toBe('');
    sshSession.stdin!.end('exit\n');
    dst.ok('stop', '812');
    dst.ok('destroy', '812');
  }, 600_000);
});
