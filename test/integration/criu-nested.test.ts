/**
 * Nested UTS and IPC namespaces through vzctl suspend/resume, with vzkit's CRIU patch
 * (scripts/criu-patches/0003-nested-uts-ipc.patch; upstream CRIU refuses them: "Can't dump
 * nested uts namespace"). A busybox container runs processes in two nested UTS namespaces (one
 * also in a nested IPC namespace holding a SysV shm segment whose key and id repeat a segment of
 * the container's own IPC namespace), several sharing one namespace and one back in the
 * container's; after a round trip the hostnames, the sharing and the shm contents are as before.
 * A stock Debian 12 container (cached template) suspends and resumes with systemd-logind in the
 * UTS namespace of its own that ProtectHostname=yes gives it.
 *
 * vzmigrate --online carries them to a DEST whose CRIU has the patch, and refuses, before
 * freezing anything, a DEST whose CRIU lacks it.
 *
 * Fails, not skips, when the CRIU in use ($VZKIT_CRIU, else /opt/vzkit/criu) lacks the patch.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestNode, isRoot } from './harness.js';
import { removeWorkloadBinary, workloadBinary } from './criu/workload.js';
import { MigrationRig } from './migrate/rig.js';

const CRIU = process.env.VZKIT_CRIU ?? '/opt/vzkit/criu/sbin/criu';
const criuReady = isRoot && spawnSync(CRIU, ['check'], { encoding: 'utf8' }).status === 0;
const CACHE = process.env.VZKIT_TEST_TEMPLATE_CACHE ?? '/var/cache/vzkit-test/templates';
const debianCached = fs.existsSync(path.join(CACHE, 'debian-12', 'etc', 'os-release'));
/**
 * A DEST whose CRIU lacks patch 0003: the run's CRIU behind a wrapper that answers the patch's
 * feature probe as an unpatched build does ("Unknown feature"); everything else is the real one.
 */
function unpatchedCriu(dir: string): string {
  const w = path.join(dir, 'criu-without-0003');
  fs.writeFileSync(w, `#!/bin/sh\nfor a; do [ "$a" = nested_uts_ipc ] && { echo "Unknown feature nested_uts_ipc" >&2; exit 1; }; done\nexec ${CRIU} "$@"\n`, { mode: 0o755 });
  return w;
}

/** Whether this CRIU has vzkit's nested UTS/IPC patch: the feature probe the patch adds. */
function nestedProbe(): { ok: boolean; what: string } {
  const v = spawnSync(CRIU, ['--version'], { encoding: 'utf8' });
  const version = /Version:\s*(\S+)/.exec(v.stdout ?? '')?.[1] ?? 'unknown version';
  const r = spawnSync(CRIU, ['check', '--feature', 'nested_uts_ipc'], { encoding: 'utf8' });
  return { ok: r.status === 0, what: `${CRIU} (CRIU ${version}): ${(r.stdout + r.stderr).trim()}` };
}

describe.skipIf(!criuReady)('nested UTS and IPC namespaces survive suspend/resume (CRIU patch 0003)', () => {
  let n: TestNode;
  const CT = '311';
  const exec = (...cmd: string[]) => n.vzctl('exec', CT, ...cmd);
  const sh = (cmd: string) => exec('sh', '-c', cmd);
  /**
   * Every process inside with its namespaces, hostname and view of SysV shm key 4242, in one exec
   * (one `vzctl exec` per question is too slow on a loaded machine).
   */
  const survey = () => {
    const script = [
      'ps -o pid,args | tail -n +2 | while read pid args; do',
      '  [ -e /proc/$pid/ns/uts ] || continue',
      '  echo "$pid|$(readlink /proc/$pid/ns/uts)|$(readlink /proc/$pid/ns/ipc)|$(nsenter -t $pid -u hostname 2>&1)|$(nsenter -t $pid -i /workload shmcat 4242 2>&1)|$args"',
      'done',
    ].join('\n');
    return sh(script)
      .stdout.split('\n')
      .filter(Boolean)
      .map((l) => {
        const [pid, uts, ipc, host, shm, ...args] = l.split('|');
        return { pid: Number(pid), uts: uts!, ipc: ipc!, host: host!, shm: shm!, args: args.join('|') };
      });
  };
  const hostname = (pid: number) => exec('nsenter', '-t', String(pid), '-u', 'hostname').stdout.trim();

  const PROCS = {
    // Nested UTS + IPC: the shell, the shm holder and a sleep share both namespaces; a second
    // sleep is its child but back in the container's own ones (nsenter -t 1).
    sh1: "sh -c hostname inner-one; /workload shm 4242 nested-text & sleep 1000000 & nsenter -t 1 -u -i sleep 1000001 & wait",
    holder1: '/workload shm 4242 nested-text',
    sleep1: 'sleep 1000000',
    back1: 'sleep 1000001',
    // A second nested UTS namespace, the container's IPC namespace.
    sleep2: 'sleep 1000002',
    // The container's own IPC namespace has a segment with the same key (and id).
    holder0: '/workload shm 4242 root-text',
  } as const;

  /** Everything the test compares before and after: namespace sharing as classes, not inodes. */
  const snapshot = () => {
    const all = survey();
    const one = (args: string) => {
      const hits = all.filter((x) => x.args === args);
      if (hits.length !== 1) throw new Error(`${hits.length} processes "${args}" in:\n${all.map((x) => `${x.pid} ${x.args}`).join('\n')}`);
      return hits[0]!;
    };
    const p = Object.fromEntries(Object.entries(PROCS).map(([k, a]) => [k, one(a)])) as Record<keyof typeof PROCS, ReturnType<typeof survey>[number]>;
    const init = all.find((x) => x.pid === 1)!;
    const same = (kind: 'uts' | 'ipc', ref: { uts: string; ipc: string }) =>
      Object.keys(p)
        .filter((k) => p[k as keyof typeof PROCS][kind] === ref[kind])
        .sort();
    return {
      pids: Object.fromEntries(Object.entries(p).map(([k, x]) => [k, x.pid])) as Record<keyof typeof PROCS, number>,
      hostnames: { init: init.host, sh1: p.sh1.host, sleep1: p.sleep1.host, back1: p.back1.host, sleep2: p.sleep2.host },
      shm: { holder0: p.holder0.shm, holder1: p.holder1.shm, back1: p.back1.shm },
      utsSameAsSh1: same('uts', p.sh1),
      utsSameAsInit: same('uts', init),
      ipcSameAsSh1: same('ipc', p.sh1),
      ipcSameAsInit: same('ipc', init),
      sleep2OwnUts: p.sleep2.uts !== p.sh1.uts && p.sleep2.uts !== init.uts,
    };
  };

  beforeAll(() => {
    n = new TestNode('sysinfo_intercept: false\n');
    n.ok('create', CT, '--ostemplate', 'busybox', '--hostname', 'ct311');
    const priv = path.join(n.root, 'private', CT);
    fs.copyFileSync(workloadBinary(), path.join(priv, 'workload'));
    fs.chmodSync(path.join(priv, 'workload'), 0o755);
    n.ok('start', CT);
  }, 120_000);
  afterAll(() => {
    n?.cleanup();
    removeWorkloadBinary();
  });

  it('the CRIU in use has the nested UTS/IPC patch (criu check --feature nested_uts_ipc)', () => {
    const p = nestedProbe();
    expect(p.ok, `this CRIU lacks vzkit's patch 0003-nested-uts-ipc: ${p.what}`).toBe(true);
  });

  it('busybox: hostnames, namespace sharing and SysV shm of nested namespaces come back', () => {
    const bg = (cmd: string) => sh(`setsid ${cmd} </dev/null >/dev/null 2>&1 &`);
    bg(`/workload shm 4242 root-text`);
    bg(`unshare -u -i ${PROCS.sh1.replace(/^sh -c (.*)$/, "sh -c '$1'")}`);
    bg(`unshare -u sh -c 'hostname inner-two; exec sleep 1000002'`);
    const t0 = Date.now();
    let before: ReturnType<typeof snapshot> | undefined;
    while (!before && Date.now() - t0 < 10_000) {
      try {
        before = snapshot();
        if (before.hostnames.sh1 !== 'inner-one' || !/nested-text/.test(before.shm.holder1)) before = undefined;
      } catch {
        before = undefined;
      }
      if (!before) spawnSync('sleep', ['0.2']);
    }
    before ??= snapshot();
    // What the container set up, before anything is dumped.
    expect(before.hostnames).toEqual({ init: 'ct311', sh1: 'inner-one', sleep1: 'inner-one', back1: 'ct311', sleep2: 'inner-two' });
    expect(before.utsSameAsSh1).toEqual(['holder1', 'sh1', 'sleep1']);
    expect(before.utsSameAsInit).toEqual(['back1', 'holder0']);
    expect(before.ipcSameAsSh1).toEqual(['holder1', 'sh1', 'sleep1']);
    expect(before.ipcSameAsInit).toEqual(['back1', 'holder0', 'sleep2']);
    expect(before.sleep2OwnUts).toBe(true);
    expect(before.shm.holder0).toMatch(/^\d+ root-text$/);
    expect(before.shm.holder1).toMatch(/^\d+ nested-text$/);
    expect(before.shm.back1).toBe(before.shm.holder0);
    expect(before.shm.holder1.split(' ')[0]).toBe(before.shm.holder0.split(' ')[0]); // the same id in both

    for (let round = 0; round < 2; round++) {
      const s = n.vzctl('suspend', CT);
      expect(s.code, s.stderr).toBe(0);
      const r = n.vzctl('resume', CT);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(snapshot()).toEqual(before);
      // Still live namespaces: a hostname set now stays in its own namespace only.
      exec('nsenter', '-t', String(before.pids.sleep2), '-u', 'hostname', `inner-two-${round}`);
      expect(hostname(before.pids.sleep2)).toBe(`inner-two-${round}`);
      expect(hostname(1)).toBe('ct311');
      exec('nsenter', '-t', String(before.pids.sleep2), '-u', 'hostname', 'inner-two');
    }
  }, 180_000);
});

describe.skipIf(!criuReady || !debianCached)('stock Debian 12 with systemd-logind in its own UTS namespace suspends and resumes', () => {
  let n: TestNode;
  const CT = '812';
  const exec = (...cmd: string[]) => n.run('vzctl', ['exec', CT, ...cmd], { timeout: 120_000 });
  const running = () => {
    for (let i = 0; i < 100; i++) {
      const r = exec('systemctl', 'is-system-running', '--wait');
      if (!/Failed to connect to bus/.test(r.stderr)) return r.stdout.trim();
      spawnSync('sleep', ['0.1']);
    }
    return 'no bus';
  };
  const logind = () => {
    const pid = exec('systemctl', 'show', '-P', 'MainPID', 'systemd-logind').stdout.trim();
    return { pid, uts: exec('readlink', `/proc/${pid}/ns/uts`).stdout.trim(), init: exec('readlink', '/proc/1/ns/uts').stdout.trim() };
  };

  beforeAll(() => {
    n = new TestNode(`template_cache: ${CACHE}\nsysinfo_intercept: false\n`);
    n.ok('create', CT, '--ostemplate', 'debian-12', '--hostname', 'deb812');
    n.ok('start', CT);
  }, 240_000);
  afterAll(() => n?.cleanup());

  it('the CRIU in use has the nested UTS/IPC patch', () => {
    const p = nestedProbe();
    expect(p.ok, `this CRIU lacks vzkit's patch 0003-nested-uts-ipc: ${p.what}`).toBe(true);
  });

  it('logind (ProtectHostname=yes) keeps its own UTS namespace and its pid; systemd is running after resume', () => {
    expect(running()).toBe('running');
    const before = logind();
    expect(Number(before.pid)).toBeGreaterThan(1);
    expect(before.uts).not.toBe(before.init); // the guest's sandboxing is on
    const s = n.vzctl('suspend', CT);
    expect(s.code, s.stderr).toBe(0);
    const r = n.vzctl('resume', CT);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const after = logind();
    expect(after.pid).toBe(before.pid);
    expect(after.uts).not.toBe(after.init);
    expect(exec('nsenter', '-t', after.pid, '-u', 'hostname').stdout.trim()).toBe('deb812');
    expect(exec('hostname').stdout.trim()).toBe('deb812');
    expect(running()).toBe('running');
    expect(exec('systemctl', 'is-active', 'systemd-logind').stdout.trim()).toBe('active');
  }, 240_000);
});

describe.skipIf(!criuReady)('vzmigrate --online with nested UTS and IPC namespaces', () => {
  /**
   * A busybox container with a shell in nested UTS+IPC namespaces, a sibling sleep sharing them and
   * a SysV shm segment in each IPC namespace (the same key and id): with a page server, both IPC
   * namespaces' dumpers send shm pages over its one socket.
   */
  const setup = (rig: MigrationRig, ct: string, host: number) => {
    rig.src.ok('create', ct, '--ostemplate', 'busybox', '--hostname', `ct${ct}`, '--ipadd', rig.ctAddr(host));
    const priv = path.join(rig.src.root, 'private', ct);
    fs.copyFileSync(workloadBinary(), path.join(priv, 'workload'));
    fs.chmodSync(path.join(priv, 'workload'), 0o755);
    rig.src.ok('start', ct);
    rig.src.ok('exec', ct, 'sh', '-c', 'setsid /workload shm 4242 mig-root-text </dev/null >/dev/null 2>&1 &');
    rig.src.ok('exec', ct, 'sh', '-c', "setsid unshare -u -i sh -c 'hostname mig-inner; /workload shm 4242 mig-nested-text & sleep 1000003 & wait' </dev/null >/dev/null 2>&1 &");
  };
  /** "uts-of-sh = uts-of-sleep != init's, and the nested hostname", from inside. */
  const state = (n: TestNode, ct: string) =>
    n
      .vzctl('exec', ct, 'sh', '-c', [
        "s=$(ps -o pid,args | awk '$2==\"sh\" && /hostname mig-inne[r]/ {print $1}'); c=$(ps -o pid,args | awk '$2==\"sleep\" && $3==\"1000003\" {print $1}')",
        'echo "$s $c"',
        '[ "$(readlink /proc/$s/ns/uts)" = "$(readlink /proc/$c/ns/uts)" ] && echo shared-uts',
        '[ "$(readlink /proc/$s/ns/ipc)" = "$(readlink /proc/$c/ns/ipc)" ] && echo shared-ipc',
        '[ "$(readlink /proc/$s/ns/uts)" != "$(readlink /proc/1/ns/uts)" ] && echo own-uts',
        'nsenter -t $c -u hostname; hostname',
        'nsenter -t $c -i /workload shmcat 4242; /workload shmcat 4242',
      ].join('; '))
      .stdout.trim()
      .split('\n');
  afterAll(() => removeWorkloadBinary());
  const mig = (rig: MigrationRig, ...args: string[]) => rig.src.run('vzmigrate', [`--ssh=${rig.sshOptions()}`, ...args], { timeout: 300_000 });

  it('a DEST whose CRIU lacks the patch is refused before freezing; the container runs on untouched', () => {
    const wdir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-criu0003-'));
    fs.chmodSync(wdir, 0o755);
    const noPatch = unpatchedCriu(wdir);
    const rig = new MigrationRig('sysinfo_intercept: false\n', { destCriu: noPatch });
    try {
      rig.setup();
      setup(rig, '321', 21);
      spawnSync('sleep', ['0.5']);
      const before = state(rig.src, '321');
      expect(before.slice(1)).toEqual(['shared-uts', 'shared-ipc', 'own-uts', 'mig-inner', 'ct321', '0 mig-nested-text', '0 mig-root-text']);
      const r = mig(rig, '--online', rig.destAddr, '321');
      expect(r.code, r.stderr + r.stdout).toBe(17);
      expect(r.stderr).toContain(`nested uts and ipc namespaces, which DEST's CRIU (${noPatch}) cannot restore: it lacks vzkit's patch 0003`);
      expect(r.stdout + r.stderr).not.toMatch(/freeze and dump/);
      expect(rig.src.ok('status', '321')).toMatch(/running/);
      expect(state(rig.src, '321')).toEqual(before);
      expect(rig.dst.vzctl('status', '321').stdout).toMatch(/deleted/);
    } finally {
      rig.close();
      fs.rmSync(wdir, { recursive: true, force: true });
    }
  }, 300_000);

  it('to a DEST whose CRIU has it: the nested namespaces, their sharing and hostname arrive', () => {
    const rig = new MigrationRig('sysinfo_intercept: false\n', { destCriu: CRIU });
    try {
      rig.setup();
      setup(rig, '322', 22);
      spawnSync('sleep', ['0.5']);
      const before = state(rig.src, '322');
      expect(before.slice(1)).toEqual(['shared-uts', 'shared-ipc', 'own-uts', 'mig-inner', 'ct322', '0 mig-nested-text', '0 mig-root-text']);
      const r = mig(rig, '--online', rig.destAddr, '322');
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(rig.dst.ok('status', '322')).toMatch(/running/);
      expect(state(rig.dst, '322')).toEqual(before); // same pids too
      expect(rig.src.vzctl('status', '322').stdout).toMatch(/deleted/);
      rig.dst.ok('stop', '322', '--fast');
      rig.dst.ok('destroy', '322');
    } finally {
      rig.close();
    }
  }, 300_000);
});
