/**
 * A stock Debian 12 VPS for the checkpoint and migration tests (debian-ckpt.test.ts,
 * debian-migrate-faults.test.ts): a customer's own sandboxed unit writing a counter every 100 ms,
 * a daemon left behind by `vzctl exec`, and the checks that a restored (or thawed) copy is whole.
 */
import { expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestNode, waitFor } from './harness.js';
import { counterGaps } from './criu/workload.js';
import { MigrationRig } from './migrate/rig.js';

/** How long a Debian template build may take (debootstrap from the archive, once per machine). */
export const BUILD_MS = 900_000;

/**
 * The two-node rig with a Debian template (12 unless said) cached on both nodes. The host's SSH client reaches a
 * container on DEST through DEST's link: DEST forwards what comes in on it (vzkit sets
 * forwarding on the containers' veth ends only).
 */
export function debianRig(nodeConfig: string, opts: ConstructorParameters<typeof MigrationRig>[1] = {}, template = 'debian-12'): MigrationRig {
  const rig = new MigrationRig(nodeConfig, opts);
  rig.setup();
  const fw = spawnSync('nsenter', [`--net=/var/run/netns/${rig.ns}`, 'sysctl', '-qw', 'net.ipv4.conf.eth0.forwarding=1'], { encoding: 'utf8' });
  if (fw.status !== 0) throw new Error(`forwarding on DEST's link: ${fw.stderr}`);
  for (const node of [rig.src, rig.dst]) {
    const b = node.run('vzctl', ['template', 'build', template], { timeout: BUILD_MS });
    if (b.code !== 0) throw new Error(`template build: ${b.stderr}`);
  }
  return rig;
}

/** The customer's unit: every sandboxing option that makes namespaces, and a counter "N MS" every 100 ms. */
export const UNIT = `[Unit]
Description=customer counter (vzkit test)
[Service]
ExecStart=/bin/sh -c 'i=0; while :; do i=$((i+1)); echo "$i $(date +%%s%%3N)" >> /var/lib/counter/log; sleep 0.1; done'
StateDirectory=counter
ProtectHostname=yes
PrivateTmp=yes
PrivateNetwork=yes
ProtectSystem=strict
[Install]
WantedBy=multi-user.target
`;

/** The cgroup2 directory of a container on this host (the unified mount of a hybrid v1 host). */
export function unifiedDir(node: string, ctid: number): string {
  const hybrid = spawnSync('stat', ['-fc', '%T', '/sys/fs/cgroup/unified'], { encoding: 'utf8' }).stdout.trim() === 'cgroup2fs';
  return path.join(hybrid ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup', node, String(ctid));
}

export function memoryLimit(node: string, ctid: number): number {
  const v1 = path.join('/sys/fs/cgroup/memory', node, String(ctid), 'memory.limit_in_bytes');
  return Number(fs.readFileSync(fs.existsSync(v1) ? v1 : path.join(unifiedDir(node, ctid), 'memory.max'), 'utf8'));
}

/** Helpers bound to one node. */
export function guest(n: TestNode) {
  const exec = (ctid: string, ...cmd: string[]) => n.run('vzctl', ['exec', ctid, ...cmd], { timeout: 120_000 });
  const running = (ctid: string) => {
    for (let i = 0; i < 100; i++) {
      const r = exec(ctid, 'systemctl', 'is-system-running', '--wait');
      if (!/Failed to connect to bus/.test(r.stderr)) return r.stdout.trim();
      spawnSync('sleep', ['0.1']);
    }
    return 'no bus';
  };
  const counter = (ctid: string): Array<[number, number]> =>
    exec(ctid, 'cat', '/var/lib/counter/log').stdout.split('\n').filter(Boolean).map((l) => l.split(' ').map(Number) as [number, number]);
  /** Boots a stock Debian 12 container with the customer's unit and a daemon left by vzctl exec. */
  const boot = (ctid: string, addr: string, ram = '384M') => {
    n.ok('create', ctid, '--ostemplate', 'debian-12', '--hostname', `deb${ctid}`, '--ipadd', addr, '--ram', ram);
    n.ok('start', ctid, '--wait');
    expect(running(ctid)).toBe('running');
    const w = n.run('vzctl', ['exec', ctid, 'sh', '-c', 'cat > /etc/systemd/system/counter.service'], { input: UNIT });
    expect(w.code, w.stderr).toBe(0);
    expect(exec(ctid, 'systemctl', 'enable', '--now', 'counter').code).toBe(0);
    // Issue 13's setsid: a daemon of a vzctl exec whose shell (its session's leader) is gone.
    expect(exec(ctid, 'sh', '-c', 'sleep 100077 >/dev/null 2>&1 &').code).toBe(0);
    expect(waitFor(() => counter(ctid).length >= 5, 20_000)).toBe(true);
  };
  /** After a restore: booted, nothing failed, the unit and the daemon alive, the counter going on from where it was. */
  const healthy = (ctid: string, before: number, frozenMs = 0) => {
    expect(running(ctid)).toBe('running');
    expect(exec(ctid, 'systemctl', '--failed', '--no-legend', '--plain').stdout.trim()).toBe('');
    expect(exec(ctid, 'systemctl', 'is-active', 'counter', 'systemd-logind', 'ssh').stdout.split('\n').filter(Boolean)).toEqual(['active', 'active', 'active']);
    expect(exec(ctid, 'pgrep', '-f', 'sleep 100077').code).toBe(0);
    const from = counter(ctid).length;
    expect(waitFor(() => counter(ctid).length >= from + 5, 10_000)).toBe(true);
    const lines = counter(ctid);
    expect(lines.length).toBeGreaterThan(before);
    const g = counterGaps(lines);
    expect(g.continuous, lines.slice(-3).join(' ')).toBe(true); // 1, 2, 3 ... no reset, nothing twice
    if (frozenMs) expect(g.maxGapMs).toBeLessThan(frozenMs + 5000);
    return lines;
  };
  /** Every host pid of the container is in this node's cgroups, systemd's units in their own sub-cgroups. */
  const inNodeCgroups = (ctid: string) => {
    const initPid = Number(fs.readFileSync(path.join(n.root, 'run', `${ctid}.pid`), 'utf8').trim().split(/\s+/)[1]);
    const own = `/${n.node}/${ctid}`;
    for (const line of fs.readFileSync(`/proc/${initPid}/cgroup`, 'utf8').trim().split('\n')) {
      expect(line.split(':')[2]!.startsWith(own), line).toBe(true);
    }
    const unit = path.join(unifiedDir(n.node, Number(ctid)), 'system.slice', 'counter.service');
    const procs = fs.readFileSync(path.join(unit, 'cgroup.procs'), 'utf8').trim().split('\n').filter(Boolean);
    expect(procs.length).toBeGreaterThan(0);
    for (const p of procs) expect(fs.readFileSync(`/proc/${p}/cgroup`, 'utf8')).toContain(`::${own}/system.slice/counter.service`);
    // Made again owned by the container's root, so systemd manages them as before.
    expect(fs.statSync(unit).uid).toBe(fs.statSync(path.join(n.root, 'private', ctid)).uid);
    return initPid;
  };
  return { exec, running, counter, boot, healthy, inNodeCgroups };
}
