/**
 * sysinfo(2) interception across a checkpoint, with the DEFAULT node config (issue 14): a busybox
 * container with --ram 256M --cpus 1 is suspended and resumed, then live-migrated to the second
 * node of the rig (migrate/rig.ts). Each time `free -m`, `uptime` and `nproc` inside still show
 * its limits: in init's tree (an inittab loop), in a daemon that `vzctl exec` left behind (its
 * own filter through --sysinfo-ctl) and in a fresh exec. No restored task keeps a listener fd:
 * the monitor holds them. A tenant process with its own USER_NOTIF filter (test/probe/usernotif.c)
 * gets nothing from the monitor but sysinfo answers and ENOSYS: its mkdir stays refused. A
 * program calling sysinfo in a loop from 2 threads (test/probe/sysinfo-loop.c; some call always
 * waits for the monitor when the container freezes) never sees an error or a wrong total.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO, isRoot, waitFor, type TestNode } from './harness.js';
import { MigrationRig } from './migrate/rig.js';

const CRIU = process.env.VZKIT_CRIU ?? '/opt/vzkit/criu/sbin/criu';
/**
 * A CRIU without criu-patches/0002: the run's CRIU behind a shell wrapper. vzkit tells a CRIU
 * that gives the listeners back by the variable name in its binary, which the wrapper lacks, so
 * it stands for a stock build exactly where vzkit decides.
 */
function stockCriu(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-stockcriu-'));
  fs.chmodSync(dir, 0o755);
  const w = path.join(dir, 'criu');
  fs.writeFileSync(w, `#!/bin/sh\nexec ${CRIU} "$@"\n`, { mode: 0o755 });
  return w;
}
const criuReady = isRoot && spawnSync(CRIU, ['check'], { encoding: 'utf8' }).status === 0 && fs.existsSync('/usr/sbin/sshd');
const CT = '451';
const RAM = 256 * 1024 * 1024;
const ENOSYS = 38;

/** A loop that writes `free -m` to FILE every 200 ms (atomically). */
const freeLoop = (file: string) => `while :; do free -m > ${file}.tmp && mv ${file}.tmp ${file}; sleep 0.2; done`;

describe.skipIf(!criuReady)('sysinfo(2) interception survives suspend/resume and vzmigrate --online', () => {
  let rig: MigrationRig;
  let tmp: string;
  const inCt = (n: TestNode, f: string) => path.join(n.root, 'root', CT, f);
  const read = (n: TestNode, f: string) => {
    try {
      return fs.readFileSync(inCt(n, f), 'utf8');
    } catch {
      return '';
    }
  };
  /** The "Mem:" total of a `free -m` output, in MiB. */
  const total = (out: string) => Number(/^Mem:\s+(\d+)/m.exec(out)?.[1]);
  /** The probe's last line, parsed. */
  const probe = (n: TestNode, f: string) => {
    const m = /^(\d+) mkdir=(-?\d+)\/(\d+) sysinfo=(-?\d+)\/(\d+) total=(\d+)$/m.exec(read(n, f));
    return m ? { seq: Number(m[1]), mkdir: [Number(m[2]), Number(m[3])], sysinfo: [Number(m[4]), Number(m[5])], total: Number(m[6]) } : undefined;
  };
  /** Waits until FILE is rewritten after now (its content changes) and returns it. */
  const fresh = (n: TestNode, f: string) => {
    const before = read(n, f);
    let now = before;
    waitFor(() => (now = read(n, f)) !== before && now !== '', 10_000);
    return now;
  };
  const freshProbe = (n: TestNode, f: string) => {
    const s0 = probe(n, f)?.seq ?? 0;
    let p = probe(n, f);
    waitFor(() => ((p = probe(n, f))?.seq ?? 0) > s0, 10_000);
    return p;
  };
  /** Host pids of the container's tasks: those in init's pid namespace. */
  const ctPids = (n: TestNode) => {
    const init = Number(fs.readFileSync(path.join(n.root, 'run', `${CT}.pid`), 'utf8').trim().split(/\s+/)[1]);
    const ns = fs.readlinkSync(`/proc/${init}/ns/pid`);
    return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
      try {
        return fs.readlinkSync(`/proc/${d}/ns/pid`) === ns;
      } catch {
        return false;
      }
    });
  };
  const listenersOf = (pid: string | number) => {
    try {
      return fs.readdirSync(`/proc/${pid}/fd`).filter((f) => {
        try {
          return fs.readlinkSync(`/proc/${pid}/fd/${f}`) === 'anon_inode:seccomp notify';
        } catch {
          return false;
        }
      }).length;
    } catch {
      return 0;
    }
  };
  const monitorPid = (n: TestNode) => Number(fs.readFileSync(path.join(n.root, 'run', `${CT}.pid`), 'utf8').trim().split(/\s+/)[0]);

  /** Everything the test asserts on a running container, before and after each checkpoint. */
  const check = (n: TestNode, restored: boolean) => {
    // A fresh exec (its own listener over the monitor's .ctl, which a restore makes too).
    expect(fs.existsSync(path.join(n.root, 'run', `${CT}.sock.ctl`))).toBe(true);
    expect(total(n.ok('exec', CT, 'free', '-m'))).toBe(256);
    const up = n.vzctl('exec', CT, 'uptime');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/up .*load average/);
    expect(n.ok('exec', CT, 'nproc').trim()).toBe('1');
    // init's tree (inittab) and the daemon exec left behind answer from the cgroup, still.
    expect(total(fresh(n, 'root/init-free'))).toBe(256);
    expect(total(fresh(n, 'root/exec-free'))).toBe(256);
    // Under the container's own USER_NOTIF filter, stacked on the monitor's: the newest filter
    // decides, and it has no listener: ENOSYS for both, before and after.
    const inner = freshProbe(n, 'root/probe-in')!;
    expect(inner.mkdir).toEqual([-1, ENOSYS]);
    expect(inner.sysinfo).toEqual([-1, ENOSYS]);
    // A process without the monitor's filter (exec while the .ctl was hidden): before a restore
    // its filter has no listener (ENOSYS); after it, the monitor holds that listener and answers
    // sysinfo from the cgroup, but refuses mkdir with ENOSYS: the directory is never made.
    const own = freshProbe(n, 'root/probe-own')!;
    expect(own.mkdir).toEqual([-1, ENOSYS]);
    if (restored) {
      expect(own.sysinfo).toEqual([0, 0]);
      expect(own.total).toBe(RAM);
    } else expect(own.sysinfo).toEqual([-1, ENOSYS]);
    expect(fs.existsSync(inCt(n, 'root/probe-own.dir'))).toBe(false);
    expect(fs.existsSync(inCt(n, 'root/probe-in.dir'))).toBe(false);
    // No task of the container holds a listener; the monitor holds them.
    const pids = ctPids(n);
    expect(pids.length).toBeGreaterThanOrEqual(5);
    expect(pids.filter((p) => listenersOf(p) > 0)).toEqual([]);
    expect(listenersOf(monitorPid(n))).toBeGreaterThanOrEqual(3);
    // The loop: it goes on, no call failed or got another total, across every freeze so far.
    const loop = () => /^calls=(\d+) bad=(\d+) wrong=(\d+) errno=(\d+)$/m.exec(read(n, 'root/loop'))?.slice(1).map(Number);
    const l0 = loop()!;
    let l1 = l0;
    expect(waitFor(() => (l1 = loop() ?? l0)[0]! > l0[0]!, 10_000)).toBe(true);
    expect(l1.slice(1)).toEqual([0, 0, 0]);
    if (restored) {
      expect(fs.readFileSync(path.join(n.root, 'log', `${CT}.monitor.log`), 'utf8')).toMatch(/notified by a filter of the container's own: refused with ENOSYS/);
    }
  };

  beforeAll(() => {
    rig = new MigrationRig(); // the default node config: sysinfo_intercept on
    rig.setup();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-usernotif-'));
    const { src } = rig;
    src.ok('create', CT, '--ostemplate', 'busybox', '--ram', '256M', '--cpus', '1');
    const priv = path.join(src.root, 'private', CT);
    for (const name of ['usernotif', 'sysinfo-loop']) {
      const bin = path.join(tmp, name);
      const cc = spawnSync('gcc', ['-static', '-O1', '-pthread', '-o', bin, path.join(REPO, `test/probe/${name}.c`)], { encoding: 'utf8' });
      if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
      fs.copyFileSync(bin, path.join(priv, name));
      fs.chmodSync(path.join(priv, name), 0o755);
    }
    const inittab = path.join(priv, 'etc/inittab');
    const st = fs.statSync(inittab);
    fs.appendFileSync(inittab, `::once:/bin/sh -c '${freeLoop('/root/init-free')}'\n`);
    fs.chownSync(inittab, st.uid, st.gid);
    src.ok('start', CT);
    const daemon = (cmd: string) => src.ok('exec', CT, 'sh', '-c', `setsid sh -c '${cmd}' </dev/null >/dev/null 2>&1 &`);
    daemon(freeLoop('/root/exec-free'));
    daemon('exec /usernotif /root/probe-in /root/probe-in.dir');
    daemon(`exec /sysinfo-loop /root/loop ${RAM}`);
    // Without the monitor's filter: exec finds no .ctl and installs none (protocol.h).
    const ctl = path.join(src.root, 'run', `${CT}.sock.ctl`);
    fs.renameSync(ctl, `${ctl}.hidden`);
    try {
      daemon('exec /usernotif /root/probe-own /root/probe-own.dir');
    } finally {
      fs.renameSync(`${ctl}.hidden`, ctl);
    }
    expect(waitFor(() => !!read(src, 'root/init-free') && !!probe(src, 'root/probe-own') && !!read(src, 'root/loop'), 10_000)).toBe(true);
  }, 120_000);
  afterAll(() => {
    rig?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('before any checkpoint: the limits, and the tenant filter without a listener', () => {
    check(rig.src, false);
  }, 60_000);

  it('suspend and resume: the listeners come back to the monitor, the limits show', () => {
    const { src } = rig;
    const withCriu = (criu: string, ...args: string[]) => {
      const r = spawnSync(path.join(REPO, 'dist/vzctl'), args, { env: { ...src.env, VZKIT_CRIU: criu }, encoding: 'utf8', timeout: 120_000 });
      return { code: r.status, stderr: r.stderr };
    };
    const STOCK = stockCriu();
    {
      // A CRIU that cannot give the listener back: suspend refuses in one line, nothing stops.
      const f = withCriu(STOCK, 'suspend', CT);
      expect(f.code).toBe(16);
      expect(f.stderr.trim().split('\n')).toHaveLength(1);
      expect(f.stderr).toMatch(/cannot give its seccomp listener back/);
      expect(src.ok('status', CT)).toMatch(/running/);
    }
    const s = src.vzctl('suspend', CT);
    expect(s.code, s.stderr).toBe(0);
    {
      // Resumed with it: refused before criu runs (sysinfo would fail with ENOSYS), the dump
      // stays as it was for the resume below.
      const f = withCriu(STOCK, 'resume', CT);
      expect(f.code).toBe(17);
      expect(f.stderr.trim().split('\n')).toHaveLength(1);
      expect(f.stderr).toMatch(/cannot give its seccomp listeners back/);
      expect(src.ok('status', CT)).toMatch(/suspended/);
    }
    fs.rmSync(path.dirname(STOCK), { recursive: true, force: true });
    const r = src.vzctl('resume', CT);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    check(src, true);
  }, 120_000);

  it('vzmigrate --online: the same on DEST', () => {
    const { src, dst } = rig;
    const r = src.run('vzmigrate', [`--ssh=${rig.sshOptions()}`, '--online', rig.destAddr, CT], { timeout: 300_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(dst.ok('status', CT)).toMatch(/running/);
    check(dst, true);
    dst.ok('stop', CT);
    dst.ok('destroy', CT);
  }, 300_000);
});
