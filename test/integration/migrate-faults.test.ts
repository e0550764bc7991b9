/**
 * vzmigrate --online when things break: the SSH connection killed during the file copy and
 * during the page transfer, and a restore that fails on DEST (injected). Each time the
 * container runs on the source afterwards with its counter still going, and DEST holds nothing.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { isRoot, pidsInNode, waitFor } from './harness.js';
import { MigrationRig, killSshBelow, migrateWith } from './migrate/rig.js';
import { counter, counterGaps, installWorkload, memsum, removeWorkloadBinary, waitWorkload } from './criu/workload.js';

const criuReady = isRoot && spawnSync(process.env.VZKIT_CRIU ?? '/opt/vzkit/criu/sbin/criu', ['check'], { encoding: 'utf8' }).status === 0 && fs.existsSync('/usr/sbin/sshd');


/** Runs vzmigrate; when `stage` begins, waits `afterMs` and kills every ssh it started. */
async function migrateAndCut(rig: MigrationRig, args: string[], stage: string | undefined, afterMs: number, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string; cut: boolean }> {
  const r = await migrateWith(rig, args, stage, afterMs, killSshBelow, env);
  return { code: r.code ?? 128, out: r.out, err: r.err, cut: r.acted };
}

describe.skipIf(!criuReady)('vzmigrate faults', () => {
  let rig: MigrationRig;
  beforeAll(() => {
    rig = new MigrationRig('sysinfo_intercept: false\n');
    rig.setup();
  }, 60_000);
  afterAll(() => {
    rig?.close();
    removeWorkloadBinary();
  });

  /** DEST has no record, files, dump, cgroups, processes or interfaces of the CT. */
  function destHoldsNothing(ctid: number): void {
    const { dst } = rig;
    expect(dst.vzctl('status', String(ctid)).stdout).toMatch(/deleted/);
    expect(fs.existsSync(path.join(dst.root, 'private', String(ctid)))).toBe(false);
    expect(fs.readdirSync(path.join(dst.root, 'dump')).filter((f) => f.startsWith(String(ctid)))).toEqual([]);
    // A task CRIU killed may take a moment to be reaped (its cgroup already shows "(deleted)").
    waitFor(() => pidsInNode(dst.node).length === 0, 5000);
    const left = pidsInNode(dst.node);
    if (left.length) console.log(spawnSync('ps', ['-o', 'pid,ppid,stat,etime,args', '-p', left.join(',')], { encoding: 'utf8' }).stdout, left.map((p) => fs.readFileSync(`/proc/${p}/cgroup`, 'utf8')).join('\n'));
    expect(left).toEqual([]);
    expect(spawnSync('pgrep', ['-f', `page-server -D ${path.join(dst.root, 'dump')}`]).status).toBe(1);
    const links = spawnSync('ip', ['-n', rig.ns, '-o', 'link'], { encoding: 'utf8' }).stdout;
    expect(links.split('\n').filter((l) => l.includes(dst.node))).toEqual([]);
  }

  /** Still running here: the counter goes on (no reset), the memory is the same, the address answers. */
  function runsOnSource(ctid: number, sum0: { sum: string; pid: number }, addr: string): void {
    const { src } = rig;
    expect(src.ok('status', String(ctid))).toMatch(/running/);
    const n0 = counter(src, ctid).length;
    expect(waitFor(() => counter(src, ctid).length >= n0 + 3, 5000)).toBe(true);
    expect(counterGaps(counter(src, ctid)).continuous).toBe(true);
    expect(memsum(src, ctid)).toEqual(sum0);
    expect(spawnSync('busybox', ['ping', '-c1', '-W2', addr]).status).toBe(0);
  }

  it('SSH killed during the file copy', async () => {
    const { src } = rig;
    const addr = rig.ctAddr(21);
    src.ok('create', '501', '--ostemplate', 'busybox', '--ipadd', addr);
    installWorkload(src, 501);
    // 24 MiB that rsync (limited to 4 MiB/s) needs seconds for: the cut lands in the copy.
    spawnSync('dd', ['if=/dev/urandom', `of=${path.join(src.root, 'private/501/root/blob')}`, 'bs=1M', 'count=24'], { stdio: 'ignore' });
    src.ok('start', '501');
    waitWorkload(src, 501);
    const sum0 = memsum(src, 501);
    const r = await migrateAndCut(rig, ['--online', rig.destAddr, '501'], 'copy files', 800, { VZKIT_RSYNC_BWLIMIT: '4096' });
    expect(r.cut).toBe(true);
    expect(r.code, r.err).toBe(6);
    expect(r.err).toMatch(/stage "copy files" failed/);
    runsOnSource(501, sum0, addr);
    destHoldsNothing(501);
    src.ok('stop', '501');
    src.ok('destroy', '501');
  }, 120_000);

  it('SSH killed during the page transfer', async () => {
    const { src } = rig;
    const addr = rig.ctAddr(22);
    src.ok('create', '502', '--ostemplate', 'busybox', '--ipadd', addr, '--ram', '1G'); // above the default profile's 512M: 768 MiB of pages
    installWorkload(src, 502, 768); // pages that take a while to stream
    src.ok('start', '502');
    waitWorkload(src, 502);
    const sum0 = memsum(src, 502);
    const r = await migrateAndCut(rig, ['--online', rig.destAddr, '502'], 'freeze and dump', 300);
    expect(r.cut).toBe(true);
    expect(r.code, r.err).toBe(16);
    expect(r.err).toMatch(/stage "freeze and dump" failed: criu dump failed/);
    runsOnSource(502, sum0, addr);
    destHoldsNothing(502);
    src.ok('stop', '502');
    src.ok('destroy', '502');
  }, 180_000);

  it('a restore that fails on DEST: thawed here, with its connections', async () => {
    const { src } = rig;
    const addr = rig.ctAddr(23);
    src.ok('create', '503', '--ostemplate', 'busybox', '--ipadd', addr);
    installWorkload(src, 503);
    src.ok('start', '503');
    waitWorkload(src, 503);
    // A loopback TCP connection: after the dump it is in repair mode until the thaw.
    src.ok('exec', '503', 'sh', '-c', "setsid sh -c 'nc -l -p 7000 -e cat >/dev/null 2>&1 &' </dev/null >/dev/null 2>&1");
    src.ok('exec', '503', 'sh', '-c', "setsid sh -c '(while sleep 0.2; do echo ping; done) | nc 127.0.0.1 7000 > /tcp.out 2>&1 &' </dev/null >/dev/null 2>&1");
    const sum0 = memsum(src, 503);
    const r = await migrateAndCut(rig, ['--online', rig.destAddr, '503'], undefined, 0, { VZKIT_INJECT_RESTORE_FAIL: '1' });
    expect(r.code, r.err).toBe(17);
    expect(r.err).toMatch(/stage "restore on DEST" failed: .*injected restore failure|stage "restore on DEST" failed/);
    runsOnSource(503, sum0, addr);
    const size = () => Number(src.vzctl('exec', '503', 'sh', '-c', 'wc -c < /tcp.out').stdout.trim() || 0);
    const s1 = size();
    // Every task runs again, also one forked just before the freeze (it was left out once).
    expect(waitFor(() => size() > s1, 10_000)).toBe(true); // the TCP connection works again
    destHoldsNothing(503);
    src.ok('stop', '503');
    src.ok('destroy', '503');
  }, 120_000);
});
