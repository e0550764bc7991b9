/**
 * vzmigrate between two nodes on this machine (migrate/rig.ts): online with the counter and the
 * 64 MiB checksum, offline of a stopped and of a running container, preflight refusals.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { isRoot, REPO } from './harness.js';
import { MigrationRig } from './migrate/rig.js';
import { counter, counterGaps, installWorkload, memsum, pids, removeWorkloadBinary, waitWorkload } from './criu/workload.js';

const criuReady = isRoot && spawnSync(process.env.VZKIT_CRIU ?? '/opt/vzkit/criu/sbin/criu', ['check'], { encoding: 'utf8' }).status === 0 && fs.existsSync('/usr/sbin/sshd');

describe.skipIf(!criuReady)('vzmigrate', () => {
  let rig: MigrationRig;
  const mig = (...args: string[]) => rig.src.run('vzmigrate', [`--ssh=${rig.sshOptions()}`, ...args], { timeout: 300_000 });
  beforeAll(() => {
    rig = new MigrationRig(); // the default config: sysinfo(2) intercepted
    rig.setup();
  }, 60_000);
  afterAll(() => {
    rig?.close();
    removeWorkloadBinary();
  });

  it('online: the counter goes on, memory and PIDs are the same, the address answers from DEST', () => {
    const { src, dst } = rig;
    const addr = rig.ctAddr(11);
    src.ok('create', '401', '--ostemplate', 'busybox', '--ipadd', addr, '--ram', '256M');
    installWorkload(src, 401);
    src.ok('start', '401');
    waitWorkload(src, 401);
    const sum0 = memsum(src, 401);
    const pids0 = pids(src, 401);
    expect(spawnSync('busybox', ['ping', '-c1', '-W2', addr]).status).toBe(0);
    const r = mig('--online', '-t', rig.destAddr, '401');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const frozen = Number(/frozen time\s+([\d.]+) s/.exec(r.stdout)?.[1]);
    expect(frozen).toBeGreaterThan(0);
    for (const st of ['preflight', 'register', 'copy files', 'freeze and dump', 'restore on DEST']) expect(r.stdout).toContain(st);
    expect(r.stdout).toMatch(/pre-dumps skipped|pre-dumps are not implemented/);
    // On DEST: running, same PIDs, same memory, the counter continued without a reset.
    expect(dst.ok('status', '401')).toMatch(/running/);
    expect(pids(dst, 401)).toEqual(pids0);
    expect(memsum(dst, 401)).toEqual(sum0);
    spawnSync('sleep', ['0.5']);
    const lines = counter(dst, 401);
    const g = counterGaps(lines);
    expect(g.continuous).toBe(true);
    expect(g.maxGapMs).toBeLessThan(frozen * 1000 + 1500);
    expect(rig.pingFromDest(addr)).toBe(true);
    // Nothing of it on the source: record, private area, run files, host route.
    expect(src.vzctl('status', '401').stdout).toMatch(/deleted/);
    expect(fs.existsSync(path.join(src.root, 'private', '401'))).toBe(false);
    expect(spawnSync('ip', ['route', 'show', `${addr}/32`], { encoding: 'utf8' }).stdout.trim()).toBe('');
    dst.ok('stop', '401');
    dst.ok('destroy', '401');
  }, 300_000);

  it('online, image layout: what was written just before the freeze is on DEST, and the copied file system is clean', () => {
    const { src, dst } = rig;
    src.ok('create', '404', '--ostemplate', 'busybox', '--layout', 'image', '--diskspace', '256M');
    src.ok('start', '404');
    // A long-running writer: its last lines are in the page cache of the image's file system
    // when the tasks stop; the final sync must carry them (syncfs before the copy).
    src.ok('exec', '404', 'sh', '-c', "setsid sh -c 'i=0; while :; do i=$((i+1)); echo $i >> /root/log; usleep 2000; done' </dev/null >/dev/null 2>&1 &");
    spawnSync('sleep', ['0.3']);
    const r = mig('--online', rig.destAddr, '404');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(dst.ok('status', '404')).toMatch(/running/);
    // The writer goes on from its last line: no line lost, none twice.
    spawnSync('sleep', ['0.2']);
    const lines = dst.ok('exec', '404', 'cat', '/root/log').trim().split('\n').map(Number);
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.every((n, i) => n === i + 1)).toBe(true);
    dst.ok('stop', '404');
    const img = path.join(dst.root, 'private', '404', 'root.img');
    const fsck = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    dst.ok('destroy', '404');
  }, 300_000);

  it('online, dir layout: the final sync sends only what changed since the copy began, and all of it arrives', () => {
    const { src, dst } = rig;
    const sh = (node: typeof src, cmd: string) => node.ok('exec', '409', 'sh', '-c', cmd);
    try {
      src.ok('create', '409', '--ostemplate', 'busybox');
      src.ok('start', '409');
      // Before the copy: a directory with old children (renamed while the copy runs), 300 files
      // that never change, a mode that flips.
      sh(src, 'mkdir -p /root/d/g0/x/y /root/t /root/u /root/h /root/stay && echo old > /root/d/g0/x/y/file && for i in $(seq 300); do echo $i > /root/stay/$i; done && : > /root/m && : > /root/c');
      // Through the copy and up to the freeze, every 2 ms: a counter line, a file made and one 20
      // steps older deleted, the old directory renamed with its children, the mode flipped, a
      // hard link moved, and a name that is not UTF-8 (\377) made and deleted the same way.
      sh(src, String.raw`setsid sh -c 'exec 3>>/root/c; echo $$ > /root/w.pid; i=0; while :; do i=$((i+1)); echo $i >&3; echo $i > /root/t/$i; rm -f /root/t/$((i-20)); mv /root/d/g$((i-1)) /root/d/g$i; chmod $((i % 2 ? 640 : 600)) /root/m; ln -f /root/t/$i /root/h/hl; : > "/root/u/$(printf "\377")$i"; rm -f "/root/u/$(printf "\377")$((i-20))"; usleep 2000; done' </dev/null >/dev/null 2>&1 &`);
      spawnSync('sleep', ['0.3']);
      // The first copy slowed down, so that it runs for a while beside the changes.
      const r = spawnSync(path.join(REPO, 'dist/vzmigrate'), [`--ssh=${rig.sshOptions()}`, '--online', rig.destAddr, '409'], { env: { ...src.env, VZKIT_RSYNC_BWLIMIT: '2000' }, encoding: 'utf8', timeout: 300_000 });
      expect(r.status, r.stderr + r.stdout).toBe(0);
      // The final sync walked a list, not the tree (the 300 unchanged files are not in it).
      const m = /the private area \(final\): (\d+) changed entr/.exec(r.stdout + r.stderr);
      expect(m, r.stdout + r.stderr).not.toBeNull();
      expect(Number(m![1])).toBeLessThan(60);
      sh(dst, 'kill $(cat /root/w.pid)');
      const last = Number(sh(dst, 'tail -n1 /root/c').trim());
      const lines = sh(dst, 'cat /root/c').trim().split('\n').map(Number);
      expect(lines.every((n, i) => n === i + 1)).toBe(true);
      // The last 20 (or 21, killed between its make and its delete) files, each with its number.
      const t = sh(dst, 'ls /root/t').trim().split('\n').map(Number).sort((a, b) => a - b);
      expect(t.length).toBeGreaterThanOrEqual(19);
      expect(t.length).toBeLessThanOrEqual(21);
      expect(t[t.length - 1]).toBeGreaterThanOrEqual(last - 1);
      // Each holds its number; the newest may be empty, killed between its open and its write.
      expect(sh(dst, `cd /root/t && for f in *; do [ "$(cat $f)" = "$f" ] || [ $f = ${t[t.length - 1]} ] || echo bad $f; done`)).toBe('');
      // One renamed directory, its old children with it.
      const g = sh(dst, 'ls /root/d').trim().split('\n');
      expect(g).toHaveLength(1);
      expect(Number(g[0]!.slice(1))).toBeGreaterThanOrEqual(last - 1);
      expect(sh(dst, `cat /root/d/${g[0]}/x/y/file`).trim()).toBe('old');
      // The hard link is one inode with a file of /root/t; the \377 names are the last ones.
      const [hl, inT] = sh(dst, 'stat -c %i /root/h/hl; n=$(cat /root/h/hl); stat -c %i /root/t/$n').trim().split('\n');
      expect(hl).toBe(inT);
      const u = sh(dst, String.raw`ls /root/u | wc -l; n=0; for f in "/root/u/$(printf "\377")"[0-9]*; do [ -e "$f" ] && n=$((n+1)); done; echo $n`).trim().split('\n').map(Number);
      expect(u[0]).toBe(u[1]);
      expect(u[0]).toBeGreaterThanOrEqual(19);
      expect(u[0]).toBeLessThanOrEqual(21);
      expect(sh(dst, 'stat -c %a /root/m').trim()).toMatch(/^(640|600)$/);
      expect(sh(dst, 'ls /root/stay | wc -l; cat /root/stay/300').trim()).toBe('300\n300');
    } finally {
      // On whichever node has it (a failed check must not leave it for the next test).
      for (const node of [src, dst]) {
        node.vzctl('stop', '409', '--fast');
        node.vzctl('destroy', '409');
      }
    }
  }, 300_000);

  it('online, bridged veth: the interface comes back on DEST\'s bridge with its MAC and address', () => {
    const { src, dst } = rig;
    // The same bridge name on both nodes (DEST's in its namespace), a /28 of the test's own /24.
    const br = `${dst.node}br`;
    const net = (ip: string[]) => spawnSync('ip', ip, { encoding: 'utf8' });
    const bridgeAddr = `198.18.${rig.R}.241/28`;
    const ctIp = `198.18.${rig.R}.242`;
    try {
      for (const pre of [[], ['-n', rig.ns]]) {
        expect(net([...pre, 'link', 'add', br, 'type', 'bridge']).status).toBe(0);
        net([...pre, 'addr', 'add', bridgeAddr, 'dev', br]);
        net([...pre, 'link', 'set', br, 'up']);
      }
      src.ok('create', '405', '--ostemplate', 'busybox', '--netif_add', `eth0,,,,${br}`);
      src.ok('set', '405', '--ifname', 'eth0', '--ipadd', `${ctIp}/28`, '--save');
      installWorkload(src, 405);
      src.ok('start', '405');
      waitWorkload(src, 405);
      const mac = src.ok('exec', '405', 'cat', '/sys/class/net/eth0/address').trim();
      const sum0 = memsum(src, 405);
      expect(spawnSync('busybox', ['ping', '-c1', '-W2', ctIp]).status).toBe(0);
      const r = mig('--online', rig.destAddr, '405');
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(memsum(dst, 405)).toEqual(sum0);
      expect(dst.ok('exec', '405', 'cat', '/sys/class/net/eth0/address').trim()).toBe(mac);
      // Its host end is on DEST's bridge, and it answers there.
      expect(net(['-n', rig.ns, 'link', 'show', 'master', br]).stdout).toMatch(/veth|@/);
      expect(rig.pingFromDest(ctIp)).toBe(true);
      // Nothing left of it on the source's bridge.
      expect(net(['link', 'show', 'master', br]).stdout.trim()).toBe('');
      dst.ok('stop', '405');
      dst.ok('destroy', '405');
    } finally {
      net(['link', 'del', br]);
      net(['-n', rig.ns, 'link', 'del', br]);
    }
  }, 300_000);

  it('offline: a stopped container, and a running one that runs again on DEST', () => {
    const { src, dst } = rig;
    src.ok('create', '402', '--ostemplate', 'busybox', '--ipadd', rig.ctAddr(12));
    const r1 = mig(rig.destAddr, '402');
    expect(r1.code, r1.stderr).toBe(0);
    expect(dst.ok('status', '402')).toMatch(/exist unmounted down/);
    expect(src.vzctl('status', '402').stdout).toMatch(/deleted/);
    src.ok('create', '403', '--ostemplate', 'busybox', '--ipadd', rig.ctAddr(13));
    src.ok('start', '403');
    src.ok('exec', '403', 'sh', '-c', 'echo kept > /root/marker');
    const r2 = mig('-r', 'no', rig.destAddr, '403');
    expect(r2.code, r2.stderr).toBe(0);
    expect(dst.ok('status', '403')).toMatch(/running/);
    expect(dst.ok('exec', '403', 'cat', '/root/marker')).toBe('kept\n');
    expect(rig.pingFromDest(rig.ctAddr(13))).toBe(true);
    // -r no: the source keeps it, stopped.
    expect(src.ok('status', '403')).toMatch(/exist unmounted down/);
    for (const id of ['402', '403']) {
      dst.vzctl('stop', id);
      dst.ok('destroy', id);
    }
    src.ok('destroy', '403');
  }, 300_000);

  it('preflight refuses what DEST cannot take, before anything is touched', () => {
    const { src, dst } = rig;
    src.ok('create', '404', '--ostemplate', 'busybox', '--ipadd', rig.ctAddr(14));
    dst.ok('create', '404', '--ostemplate', 'busybox');
    const r = mig('--online', rig.destAddr, '404');
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/stage "preflight" failed: .*already exists on DEST/);
    dst.ok('destroy', '404');
    dst.ok('create', '405', '--ostemplate', 'busybox', '--ipadd', rig.ctAddr(14));
    const ip = mig('--dry-run', rig.destAddr, '404');
    expect(ip.code).toBe(12);
    expect(ip.stderr).toMatch(/address .* is used by CT 405 on DEST/);
    dst.ok('destroy', '405');
    const ok = mig('--dry-run', rig.destAddr, '404');
    expect(ok.code, ok.stderr).toBe(0);
    expect(src.ok('status', '404')).toMatch(/exist/);
    const bad = rig.src.run('vzmigrate', ['--ssh=-o ConnectTimeout=2 -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/dev/null', rig.destAddr, '404']);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toMatch(/stage "preflight" failed: cannot connect/);
    src.ok('destroy', '404');
  }, 120_000);
});
