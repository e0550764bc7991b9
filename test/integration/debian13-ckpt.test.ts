/**
 * Checkpoint of a stock Debian 13 VPS (systemd 257; issue 14): `vzctl suspend` / `vzctl resume`
 * with users logged in, i.e. with `(sd-pam)` running: one `su - alice` session started by vzctl
 * exec and one SSH login of root from the host, open across the restore. What broke before:
 * systemd's memory-pressure watches (a PSI trigger lives in the open file, CRIU restored the fd
 * without it, and PID 1, journald and logind then spun on EPOLLPRI|EPOLLERR; with
 * ProtectControlGroups= the bound memory.pressure file also failed the restore with move_mount
 * EINVAL), and `(sd-pam)`, whose exe CRIU opened O_PATH (`PR_SET_MM_MAP failed with -9`).
 * With CRIU patch 0015 (`criu check --feature psi_trigger`) the watch is on: vzkit shows
 * /proc/pressure read-only, systemd sets its triggers on its cgroups' memory.pressure, and CRIU
 * records each trigger at dump and sets it again at restore; a trigger CRIU cannot attribute is
 * refused in one line. The CRIU patches 0010-0012 fix the rest. The same with `vzmigrate
 * --online` on the two-node rig. Template cache as debian.test.ts's; run with
 * VZKIT_DEBIAN_TESTS=1. VZKIT_CRIU names another criu build (e.g. VZKIT_CRIU_PREFIX's of
 * scripts/criu.sh).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { TestNode, isRoot, pidsInNode, waitFor } from './harness.js';
import { MigrationRig } from './migrate/rig.js';
import { BUILD_MS, debianRig } from './debian-guest.js';

const CRIU = process.env.VZKIT_CRIU ?? '/opt/vzkit/criu/sbin/criu';
const criuReady = isRoot && spawnSync(CRIU, ['check'], { encoding: 'utf8' }).status === 0;
const enabled = criuReady && process.env.VZKIT_DEBIAN_TESTS === '1' && fs.existsSync('/usr/bin/ssh');
const CACHE = process.env.VZKIT_TEST_TEMPLATE_CACHE ?? '/var/cache/vzkit-test/templates';
const CT = '813';
const ADDR = `198.18.${10 + Math.floor(Math.random() * 240)}.${100 + Math.floor(Math.random() * 100)}`;
/** CPU time (ticks of 10 ms) a process may use in 5 s after a restore: an idle systemd uses 0-2, the PSI spin used 60-450. */
const IDLE_TICKS = 25;
// The default node config otherwise (sysinfo(2) intercepted: CRIU patch 0002 hands its listeners back).
const NODE_CONFIG = `template_cache: ${CACHE}\n`;

/** utime + stime of a host pid, in clock ticks. */
function cpuTicks(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const after = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(after[11]) + Number(after[12]);
}

/**
 * poll(2) of a host process's fd, taken with pidfd_getfd(2) (the same open file): a pressure file
 * with a PSI trigger reports nothing (or POLLPRI on an event); without one POLLERR at once.
 */
const POLL_PY = `import ctypes, os, select, sys
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(int(sys.argv[1]))
f = libc.syscall(438, pidfd, int(sys.argv[2]), 0)
if f < 0:
    sys.exit('pidfd_getfd: ' + os.strerror(ctypes.get_errno()))
p = select.poll()
p.register(f, select.POLLPRI)
ev = p.poll(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
print(ev[0][1] if ev else 0)`;
const POLLPRI = 2;
const POLLERR = 8;

/** The open *.pressure files of a host pid: fd number, path, and whether a PSI trigger is set on it. */
function pressureWatches(pid: number): { fd: number; path: string; trigger: boolean }[] {
  const out: { fd: number; path: string; trigger: boolean }[] = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let l: string;
    try {
      l = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (!l.endsWith('.pressure') && !l.startsWith('/proc/pressure/')) continue;
    const r = spawnSync('python3', ['-c', POLL_PY, String(pid), fd], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`poll ${pid}/${fd}: ${r.stderr}`);
    out.push({ fd: Number(fd), path: l, trigger: (Number(r.stdout.trim()) & POLLERR) === 0 });
  }
  return out;
}

/** Helpers bound to one node and container. */
function guest(n: TestNode, ct: string) {
  const exec = (...cmd: string[]) => n.run('vzctl', ['exec', ct, ...cmd], { timeout: 120_000 });
  const running = () => {
    for (let i = 0; i < 100; i++) {
      const r = exec('systemctl', 'is-system-running', '--wait');
      if (!/Failed to connect to bus/.test(r.stderr)) return r.stdout.trim();
      spawnSync('sleep', ['0.1']);
    }
    return 'no bus';
  };
  /** "PID USER COMM" of the login sessions' processes, in the container's pid namespace. */
  const sessionProcs = () =>
    exec('ps', '-eo', 'pid=,user=,comm=,args=')
      .stdout.split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[2] === '(sd-pam)' || (f[2] === 'systemd' && f[4] === '--user') || f.slice(3).join(' ') === 'sleep 100813')
      .map((f) => f.slice(0, 3).join(' '))
      .sort();
  /** Host pids of init and of two daemons with memory-pressure watches in a stock boot. */
  const hostPids = () => {
    const init = Number(fs.readFileSync(path.join(n.root, 'run', `${ct}.pid`), 'utf8').trim().split(/\s+/)[1]);
    const ns = fs.readlinkSync(`/proc/${init}/ns/pid`);
    const byComm = (comm: string) => {
      for (const p of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        try {
          if (fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm && fs.readlinkSync(`/proc/${p}/ns/pid`) === ns) return Number(p);
        } catch {
          // gone meanwhile
        }
      }
      throw new Error(`no ${comm} in the container`);
    };
    return { 'PID 1': init, 'systemd-journald': byComm('systemd-journal'), 'systemd-logind': byComm('systemd-logind') };
  };
  const psiFds = () => exec('sh', '-c', 'ls -l /proc/[0-9]*/fd/ 2>/dev/null | grep -c "pressure$" || true').stdout.trim();
  /**
   * PID 1, journald and logind each watch their own cgroup's memory.pressure with a working PSI
   * trigger (poll blocks): "NAME PATH trigger|NO TRIGGER" lines, for one comparison.
   */
  const watches = () =>
    Object.entries(hostPids()).map(([k, pid]) => {
      const w = pressureWatches(pid);
      return w.length ? w.map((x) => `${k} ${x.path} ${x.trigger ? 'trigger' : 'NO TRIGGER'}`).join('; ') : `${k} no watch`;
    });
  const expectWatches = () =>
    expect(watches()).toEqual([
      'PID 1 /sys/fs/cgroup/init.scope/memory.pressure trigger',
      'systemd-journald /sys/fs/cgroup/system.slice/systemd-journald.service/memory.pressure trigger',
      'systemd-logind /sys/fs/cgroup/system.slice/systemd-logind.service/memory.pressure trigger',
    ]);
  /** After a restore: nothing spins, PID 1 and the daemons that had watches use next to no CPU in 5 s. */
  const idle = async () => {
    const pids = hostPids();
    const ticks0 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuTicks(p)]));
    await new Promise((res) => setTimeout(res, 5000));
    const used = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuTicks(p) - ticks0[k]!]));
    if (process.env.VZKIT_TEST_SHOW_TIMES) process.stdout.write(`CPU ticks (10 ms) in the 5 s after the restore: ${JSON.stringify(used)}\n`);
    for (const [k, v] of Object.entries(used)) expect({ [k]: v < IDLE_TICKS }, JSON.stringify(used)).toEqual({ [k]: true });
  };
  /** Two logins: alice through su (pam_systemd: user@1000.service and its (sd-pam)), root over SSH (the caller's). */
  const loginAlice = () => {
    expect(exec('useradd', '-m', '-s', '/bin/bash', 'alice').code).toBe(0);
    expect(exec('sh', '-c', "setsid su - alice -c 'sleep 100813' </dev/null >/dev/null 2>&1 &").code).toBe(0);
  };
  const pam = () => sessionProcs().filter((p) => p.endsWith('(sd-pam)')).map((p) => p.split(' ')[1]).sort();
  /** The user managers' (systemd --user of root and alice) watches, as watches() words them. */
  const userWatches = () => {
    const init = hostPids()['PID 1'];
    const ns = fs.readlinkSync(`/proc/${init}/ns/pid`);
    const out: string[] = [];
    for (const p of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d) && Number(d) !== init)) {
      try {
        if (fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() !== 'systemd' || fs.readlinkSync(`/proc/${p}/ns/pid`) !== ns) continue;
        for (const w of pressureWatches(Number(p))) out.push(`${w.path} ${w.trigger ? 'trigger' : 'NO TRIGGER'}`);
      } catch {
        // gone meanwhile
      }
    }
    return out.sort();
  };
  return { exec, running, sessionProcs, hostPids, psiFds, watches, expectWatches, userWatches, idle, loginAlice, pam };
}

/** An SSH session of the host's, to root@addr, that runs what it is given. */
function sshSession(key: string, addr: string) {
  const child = spawn('ssh', ['-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10', '-o', 'ServerAliveInterval=0', `root@${addr}`, 'sh'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const ask = async (cmd: string, mark: string, ms = 30_000) => {
    child.stdin!.write(`${cmd}; echo ${mark}\n`);
    const end = Date.now() + ms;
    while (!out.includes(mark) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return out;
  };
  return { child, ask };
}

describe.skipIf(!enabled)('Debian 13 with systemd: suspend and resume with users logged in', () => {
  let n: TestNode;
  let tmp: string;
  let ssh: ReturnType<typeof sshSession> | undefined;
  let g: ReturnType<typeof guest>;
  const exec = (...cmd: string[]) => g.exec(...cmd);
  const running = () => g.running();
  const psiFds = () => g.psiFds();


  beforeAll(() => {
    fs.mkdirSync(CACHE, { recursive: true });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-deb13ckpt-'));
    n = new TestNode(NODE_CONFIG);
    g = guest(n, CT);
    const b = n.run('vzctl', ['template', 'build', 'debian-13'], { timeout: BUILD_MS });
    if (b.code !== 0) throw new Error(`template build: ${b.stderr}`);
  }, BUILD_MS);
  afterAll(() => {
    ssh?.child.kill('SIGKILL');
    n?.cleanup();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a stock Debian 13 boots with the memory-pressure watch on (PID 1, journald, logind: working PSI triggers); a program that sets a trigger CRIU cannot attribute, or PID 1 with DefaultMemoryPressureThresholdSec= set: suspend refuses in one line (CRIU patch 0015) and the container runs on', () => {
    n.ok('create', CT, '--ostemplate', 'debian-13', '--hostname', `deb${CT}`, '--ipadd', ADDR, '--ram', '384M');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vzkit-test', '-f', path.join(tmp, 'id_ed25519')]);
    n.ok('set', CT, '--ssh-key', fs.readFileSync(path.join(tmp, 'id_ed25519.pub'), 'utf8').trim());
    n.ok('start', CT, '--wait');
    expect(running()).toBe('running');
    // PSI is shown, read-only: systemd finds it, and the host-wide files take no trigger from inside.
    expect(exec('cat', '/proc/pressure/memory').stdout).toMatch(/^some avg10=/);
    expect(exec('sh', '-c', 'echo "some 200000 2000000" > /proc/pressure/memory').code).not.toBe(0);
    g.expectWatches();

    const pid0 = fs.readFileSync(path.join(n.root, 'run', `${CT}.pid`), 'utf8');
    // Unprivileged triggers need a 2 s window; system.slice is the container root's (systemd made it).
    // Not systemd's, no $MEMORY_PRESSURE_WATCH: CRIU cannot know what was written.
    const w = exec('sh', '-c', `setsid bash -c 'exec 3<>/sys/fs/cgroup/system.slice/memory.pressure && printf "some 200000 2000000" >&3 && exec sleep 100814' </dev/null >/dev/null 2>&1 &`);
    expect(w.code, w.stderr).toBe(0);
    expect(waitFor(() => exec('pgrep', '-f', 'sleep 100814').code === 0, 10_000)).toBe(true);
    const s = n.vzctl('suspend', CT);
    expect(s.code).toBe(16);
    expect(s.stderr.trim().split('\n')[0]).toMatch(/PSI trigger is set on \/sys\/fs\/cgroup\/system.slice\/memory.pressure, which cannot be restored: its owner has no \$MEMORY_PRESSURE_WATCH/);
    expect(s.stderr).toMatch(/stop that program/);
    // Never stopped: the same init and monitor, running, the program too.
    expect(fs.readFileSync(path.join(n.root, 'run', `${CT}.pid`), 'utf8')).toBe(pid0);
    expect(n.ok('status', CT)).toMatch(/running/);
    expect(running()).toBe('running');
    expect(exec('pgrep', '-f', 'sleep 100814').code).toBe(0);
    expect(exec('pkill', '-f', 'sleep 100814').code).toBe(0);
    expect(waitFor(() => exec('pgrep', '-f', 'sleep 100814').code !== 0, 10_000)).toBe(true);
    // PID 1 applies DefaultMemoryPressureThresholdSec= to its own watch, which CRIU cannot read
    // back: with it configured, the dump refuses PID 1's trigger rather than guess.
    expect(exec('sh', '-c', 'mkdir -p /etc/systemd/system.conf.d && echo "[Manager]\nDefaultMemoryPressureThresholdSec=100ms" > /etc/systemd/system.conf.d/psi.conf').code).toBe(0);
    const c = n.vzctl('suspend', CT);
    expect(c.code).toBe(16);
    expect(c.stderr.trim().split('\n')[0]).toMatch(/PSI trigger is set on \/sys\/fs\/cgroup\/init.scope\/memory.pressure, which cannot be restored: systemd's DefaultMemoryPressureThresholdSec= is set/);
    expect(exec('rm', '/etc/systemd/system.conf.d/psi.conf').code).toBe(0);
    expect(fs.readFileSync(path.join(n.root, 'run', `${CT}.pid`), 'utf8')).toBe(pid0);
    expect(running()).toBe('running');
  }, 300_000);

  it('a program of its own that follows systemd\'s protocol ($MEMORY_PRESSURE_WATCH/WRITE): its trigger survives suspend/resume and fires on real memory pressure', () => {
    const file = '/sys/fs/cgroup/system.slice/memory.pressure';
    const b64 = Buffer.from('some 50000 2000000').toString('base64');
    const w = exec('sh', '-c', `MEMORY_PRESSURE_WATCH=${file} MEMORY_PRESSURE_WRITE=${b64} setsid bash -c 'exec 3<>${file} && printf "some 50000 2000000" >&3 && exec sleep 100815' </dev/null >/dev/null 2>&1 &`);
    expect(w.code, w.stderr).toBe(0);
    expect(waitFor(() => exec('pgrep', '-f', 'sleep 100815').code === 0, 10_000)).toBe(true);
    const host = () => {
      const init = Number(fs.readFileSync(path.join(n.root, 'run', `${CT}.pid`), 'utf8').trim().split(/\s+/)[1]);
      const ns = fs.readlinkSync(`/proc/${init}/ns/pid`);
      return Number(
        fs.readdirSync('/proc').find((p) => {
          try {
            return /^\d+$/.test(p) && fs.readlinkSync(`/proc/${p}/ns/pid`) === ns && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\x00100815\x00';
          } catch {
            return false;
          }
        }),
      );
    };
    expect(pressureWatches(host())).toEqual([{ fd: 3, path: file, trigger: true }]);
    const s = n.vzctl('suspend', CT);
    expect(s.code, s.stderr).toBe(0);
    const r = n.vzctl('resume', CT);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(pressureWatches(host())).toEqual([{ fd: 3, path: file, trigger: true }]);
    g.expectWatches();
    // The restored trigger fires on real pressure: in system.slice, a program writes 100 MiB of
    // a file of its own (its cache is the container's: the cache of the template's files is
    // charged elsewhere after a restore), holds 300 MiB of the container's 384 (tail keeps a line
    // without end; no swap here) and reads that file again and again, so its cache is reclaimed
    // and read again: that cgroup stalls on memory, and poll() reports POLLPRI without POLLERR
    // (after 1.4 s here, as a trigger set afresh beside it).
    const load = 'head -c 100m /dev/urandom >/var/tmp/psi-load && { { head -c 300m /dev/zero; exec sleep infinity; } | tail >/dev/null & while :; do cat /var/tmp/psi-load >/dev/null; done; }';
    const hog = exec('systemd-run', '--collect', '--slice=system.slice', '--unit=psihog', 'sh', '-c', load);
    expect(hog.code, hog.stderr).toBe(0);
    try {
      const r = spawnSync('python3', ['-c', POLL_PY, String(host()), '3', '60000'], { encoding: 'utf8', timeout: 70_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(Number(r.stdout.trim())).toBe(POLLPRI);
    } finally {
      exec('systemctl', 'stop', 'psihog.service');
      exec('rm', '-f', '/var/tmp/psi-load');
    }
    expect(exec('pkill', '-f', 'sleep 100815').code).toBe(0);
    expect(waitFor(() => exec('pgrep', '-f', 'sleep 100815').code !== 0, 10_000)).toBe(true);
  }, 300_000);

  it('a stock Debian 13 VPS with a su session and an SSH login ((sd-pam) running): suspend, resume, sessions alive, the memory-pressure watches working, PID 1 idle', async () => {
    g.expectWatches();
    g.loginAlice();
    ssh = sshSession(path.join(tmp, 'id_ed25519'), ADDR);
    expect(await ssh.ask('id -un', 'MARK-BEFORE')).toMatch(/root\nMARK-BEFORE/);
    expect(waitFor(() => g.pam().join(',') === 'alice,root', 30_000), g.sessionProcs().join('; ')).toBe(true);
    const procs0 = g.sessionProcs();
    expect(procs0).toHaveLength(5); // two user managers, two (sd-pam), alice's sleep
    // The user managers watch their own init.scope's memory.pressure, as PID 1 does.
    const users0 = g.userWatches();
    expect(users0).toEqual([
      '/sys/fs/cgroup/user.slice/user-0.slice/user@0.service/init.scope/memory.pressure trigger',
      '/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/init.scope/memory.pressure trigger',
    ]);

    const t0 = Date.now();
    const s = n.vzctl('suspend', CT);
    expect(s.code, s.stderr).toBe(0);
    const t1 = Date.now();
    const r = n.vzctl('resume', CT);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    if (process.env.VZKIT_TEST_SHOW_TIMES) process.stdout.write(`suspend ${t1 - t0} ms, resume ${Date.now() - t1} ms (vzctl commands)\n`);

    // Booted, nothing failed, the same session processes, nothing spinning.
    expect(running()).toBe('running');
    expect(exec('systemctl', '--failed', '--no-legend', '--plain').stdout.trim()).toBe('');
    expect(g.sessionProcs()).toEqual(procs0);
    // The watches came back with their triggers (poll blocks), and nothing spins on them.
    g.expectWatches();
    expect(g.userWatches()).toEqual(users0);
    await g.idle();
    expect(Number(psiFds())).toBeGreaterThanOrEqual(3);
    // The sessions work: the SSH one runs a command, alice's user manager answers.
    expect(await ssh.ask('id -un; systemctl is-system-running', 'MARK-AFTER')).toMatch(/root\nrunning\nMARK-AFTER/);
    expect(ssh.child.exitCode).toBe(null);
    expect(exec('su', '-', 'alice', '-c', 'systemctl --user is-system-running').stdout.trim()).toBe('running');
    expect(exec('loginctl', 'list-users', '--no-legend').stdout).toMatch(/alice/);
    expect(spawnSync('busybox', ['ping', '-c1', '-W2', ADDR]).status).toBe(0);
    ssh.child.stdin!.end('exit\n');
  }, 300_000);

  it('CAP_SYS_RESOURCE (the kernel takes a trigger\'s class from its opener): a 1 s window survives suspend/resume while its owner keeps the capability; an owner that dropped it is refused in one line', () => {
    const ct = '817';
    const g7 = guest(n, ct);
    n.ok('create', ct, '--ostemplate', 'debian-13', '--hostname', `deb${ct}`, '--ram', '384M');
    n.ok('set', ct, '--capability', 'sys_resource:on', '--save');
    n.ok('start', ct, '--wait');
    expect(g7.running()).toBe('running');
    const file = '/sys/fs/cgroup/system.slice/memory.pressure';
    const trig = 'some 50000 1000000'; // a 1 s window: only a privileged opener may set it
    const env = `MEMORY_PRESSURE_WATCH=${file} MEMORY_PRESSURE_WRITE=${Buffer.from(trig).toString('base64')}`;
    const run = (tag: string, then: string) =>
      g7.exec('sh', '-c', `${env} setsid bash -c 'exec 3<>${file} && printf "${trig}" >&3 && exec ${then} sleep ${tag}' </dev/null >/dev/null 2>&1 &`);
    const pidOf = (tag: string) => {
      let pid = 0;
      waitFor(() => (pid = Number(spawnSync('pgrep', ['-f', '-x', `sleep ${tag}`], { encoding: 'utf8' }).stdout.trim().split('\n')[0] || 0)) > 0, 10_000);
      return pid;
    };
    // Kept: set again at restore by an opener with the capability.
    expect(run('100817', '').code).toBe(0);
    expect(pressureWatches(pidOf('100817'))).toEqual([{ fd: 3, path: file, trigger: true }]);
    const s = n.vzctl('suspend', ct);
    expect(s.code, s.stderr).toBe(0);
    const r = n.vzctl('resume', ct);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(pressureWatches(pidOf('100817'))).toEqual([{ fd: 3, path: file, trigger: true }]);
    g7.expectWatches();
    // Dropped after the write (the file keeps its opener's credentials): refused, running on.
    expect(run('100818', 'setpriv --bounding-set -sys_resource').code).toBe(0);
    expect(pressureWatches(pidOf('100818'))).toEqual([{ fd: 3, path: file, trigger: true }]);
    const d = n.vzctl('suspend', ct);
    expect(d.code).toBe(16);
    expect(d.stderr.trim().split('\n')[0]).toMatch(/PSI trigger is set on \/sys\/fs\/cgroup\/system.slice\/memory.pressure, which cannot be restored: its 1000000 us window needs CAP_SYS_RESOURCE, which its owner does not have now/);
    expect(g7.running()).toBe('running');
    n.ok('stop', ct);
    n.ok('destroy', ct);
  }, 300_000);
});

describe.skipIf(!enabled || !fs.existsSync('/usr/sbin/sshd'))('Debian 13 with systemd: vzmigrate --online with users logged in', () => {
  let rig: MigrationRig;
  let tmp: string;
  let ssh: ReturnType<typeof sshSession> | undefined;
  let route: string | undefined;
  let destCriu: string;
  const mig = (...args: string[]) => rig.src.run('vzmigrate', [`--ssh=${rig.sshOptions()}`, ...args], { timeout: 300_000 });

  beforeAll(() => {
    fs.mkdirSync(CACHE, { recursive: true });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-deb13mig-'));
    fs.chmodSync(tmp, 0o755);
    // DEST's CRIU: the run's, behind a wrapper that first answers patch 0015's feature probe as
    // a build without it does; rewritten later (vzkit asks a changed binary again).
    destCriu = path.join(tmp, 'criu-dest');
    // It names CRIU_SECCOMP_LISTENER_FD: vzkit reads patch 0002 from the binary's bytes (criuRestoresListeners).
    fs.writeFileSync(destCriu, `#!/bin/sh\n# wraps a CRIU with CRIU_SECCOMP_LISTENER_FD (patch 0002)\nfor a; do [ "$a" = psi_trigger ] && { echo "Unknown feature psi_trigger" >&2; exit 1; }; done\nexec ${CRIU} "$@"\n`, { mode: 0o755 });
    rig = debianRig(NODE_CONFIG, { destCriu }, 'debian-13');
  }, BUILD_MS);
  afterAll(() => {
    ssh?.child.kill('SIGKILL');
    if (route) spawnSync('ip', ['route', 'del', route]);
    rig?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a DEST whose CRIU lacks patch 0015 is refused before freezing, in one line; the container runs on here', () => {
    const { src, dst } = rig;
    const ct = '816';
    const gs = guest(src, ct);
    src.ok('create', ct, '--ostemplate', 'debian-13', '--hostname', `deb${ct}`, '--ipadd', rig.ctAddr(16), '--ram', '384M');
    src.ok('start', ct, '--wait');
    expect(gs.running()).toBe('running');
    gs.expectWatches();
    const pid0 = gs.hostPids()['PID 1'];
    const r = mig('--online', rig.destAddr, ct);
    expect(r.code, r.stderr + r.stdout).toBe(17);
    expect(r.stderr).toContain(`processes inside watch memory pressure (PSI triggers), which DEST's CRIU (${destCriu}) cannot set again: it lacks vzkit's patch 0015-psi-trigger-restore`);
    expect(r.stdout + r.stderr).not.toMatch(/freeze and dump/);
    expect(gs.hostPids()['PID 1']).toBe(pid0);
    expect(gs.running()).toBe('running');
    expect(dst.vzctl('status', ct).stdout).toMatch(/deleted/);
    src.ok('stop', ct);
    src.ok('destroy', ct);
    // From here on DEST's CRIU has the patch.
    fs.writeFileSync(destCriu, `#!/bin/sh\n# wraps a CRIU with CRIU_SECCOMP_LISTENER_FD (patch 0002)\nexec ${CRIU} "$@"\n`, { mode: 0o755 });
  }, 300_000);

  it('online, with a su session and an SSH login open: both go on on DEST, running with 0 failed, the memory-pressure watches working, PID 1 idle, nothing left here', async () => {
    const { src, dst } = rig;
    const ct = '814';
    const gs = guest(src, ct);
    const gd = guest(dst, ct);
    const addr = rig.ctAddr(14);
    src.ok('create', ct, '--ostemplate', 'debian-13', '--hostname', `deb${ct}`, '--ipadd', addr, '--ram', '384M');
    const key = path.join(tmp, 'id_ed25519');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vzkit-test', '-f', key]);
    src.ok('set', ct, '--ssh-key', fs.readFileSync(`${key}.pub`, 'utf8').trim());
    src.ok('start', ct, '--wait');
    expect(gs.running()).toBe('running');
    gs.expectWatches();
    // After the move the host reaches the address through DEST's link: a /30 under the source's /32.
    route = `${addr.replace(/\.\d+$/, '.12')}/30`;
    expect(spawnSync('ip', ['route', 'add', route, 'via', rig.destAddr]).status).toBe(0);
    gs.loginAlice();
    ssh = sshSession(key, addr);
    expect(await ssh.ask('hostname', 'MARK-BEFORE')).toMatch(new RegExp(`deb${ct}\nMARK-BEFORE`));
    expect(waitFor(() => gs.pam().join(',') === 'alice,root', 30_000), gs.sessionProcs().join('; ')).toBe(true);
    const procs0 = gs.sessionProcs();

    const r = mig('--online', '-t', rig.destAddr, ct);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    if (process.env.VZKIT_TEST_SHOW_TIMES) process.stdout.write(r.stdout);
    expect(await ssh.ask('cat /proc/sys/kernel/hostname; systemctl is-system-running', 'MARK-AFTER')).toMatch(new RegExp(`deb${ct}\nrunning\nMARK-AFTER`));
    expect(ssh.child.exitCode).toBe(null);
    expect(dst.ok('status', ct)).toMatch(/running/);
    expect(gd.exec('systemctl', '--failed', '--no-legend', '--plain').stdout.trim()).toBe('');
    expect(gd.sessionProcs()).toEqual(procs0);
    gd.expectWatches();
    await gd.idle();
    expect(gd.exec('su', '-', 'alice', '-c', 'systemctl --user is-system-running').stdout.trim()).toBe('running');
    expect(rig.pingFromDest(addr)).toBe(true);
    expect(src.vzctl('status', ct).stdout).toMatch(/deleted/);
    expect(pidsInNode(src.node)).toEqual([]);
    ssh.child.stdin!.end('exit\n');
    dst.ok('stop', ct);
    dst.ok('destroy', ct);
  }, 600_000);
});
