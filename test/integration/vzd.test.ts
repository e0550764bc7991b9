/**
 * vzd for real: a test spawns the daemon, lets it work, and stops it with SIGTERM. Jobs on a
 * seconds schedule fire and produce archives; retention keeps exactly what the policy says; a
 * run still going at its next time is not started twice; runs missed while vzd was down are
 * caught up once; SIGTERM aborts a long run cleanly; onboot containers start in bootorder and
 * --stop-on-exit stops them.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { REPO, TestNode, isRoot } from './harness.js';

interface Run {
  jobId: number;
  ctid: number | null;
  trigger: string;
  result: string;
  startedAt: string;
  durationMs: number | null;
  archive: string | null;
  error: string | null;
  size: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!isRoot)('vzd scheduler (root, real containers)', () => {
  let n: TestNode;
  const daemons: ChildProcess[] = [];

  beforeAll(() => {
    n = new TestNode('', { idmapCount: 8 });
    n.ok('create', '101', '--ostemplate', 'busybox');
    n.ok('start', '101');
  });
  afterAll(() => {
    for (const d of daemons) if (d.exitCode === null) d.kill('SIGKILL');
    n?.cleanup();
  });

  function vzd(...args: string[]): { proc: ChildProcess; log: () => string; exited: Promise<number> } {
    let out = '';
    const proc = spawn(path.join(REPO, 'dist', 'vzd'), args, { env: n.env, stdio: ['ignore', 'pipe', 'pipe'] });
    daemons.push(proc);
    proc.stdout!.on('data', (d) => (out += String(d)));
    proc.stderr!.on('data', (d) => (out += String(d)));
    const exited = new Promise<number>((r) => proc.once('exit', (c) => r(c ?? 128)));
    return { proc, log: () => out, exited };
  }
  const history = (job: string): Run[] => JSON.parse(n.ok('job', 'history', job, '--limit', '500', '--json')) as Run[];
  async function until(cond: () => boolean, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (cond()) return true;
      await sleep(200);
    }
    return cond();
  }
  const dir = (name: string) => {
    const d = path.join(n.dir, name);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };
  const archivesIn = (d: string) => fs.readdirSync(d).filter((f) => /\.tar(\.zst|\.gz)?$/.test(f)).sort();

  it('a job on a seconds schedule fires in a running vzd; retention keeps exactly the newest 2', async () => {
    const d = dir('every2s');
    n.ok('job', 'add', 'every2s', '--schedule', '*/2 * * * * *', '--ctid', '101', '--mode', 'suspend', '--dumpdir', d, '--keep-last', '2');
    expect(n.ok('job', 'list')).toMatch(/every2s\s+backup\s+\*\/2 \* \* \* \* \*\s+101\s+suspend zstd .* keep last=2/);
    const v = vzd('--no-onboot');
    const fired = await until(() => history('every2s').filter((r) => r.result === 'ok').length >= 4, 30_000);
    v.proc.kill('SIGTERM');
    expect(await v.exited).toBe(0);
    expect(fired).toBe(true);
    n.ok('job', 'remove', 'every2s');
    // job remove dropped the history too: the archives made are in vzd's log.
    const made = [...v.log().matchAll(/job every2s: CT 101 ok (\S+)/g)].map((m) => path.basename(m[1]!));
    expect(made.length).toBeGreaterThanOrEqual(4);
    expect(archivesIn(d)).toEqual(made.slice(-2).sort());
    // Each archive kept has its .sha256 and .auth; those of the pruned ones went with them.
    expect(fs.readdirSync(d).sort()).toEqual(archivesIn(d).flatMap((a) => [a, `${a}.auth`, `${a}.sha256`]).sort());
    expect(n.ok('status', '101')).toMatch(/running/);
  }, 60_000);

  it('history keeps status, start, duration, size and the error', () => {
    const d = dir('manual');
    // A job for a container that does not exist is refused (exit 14), nothing stored.
    const bad = n.vzctl('job', 'add', 'manual', '--schedule', '0 3 * * *', '--ctid', '101,999', '--dumpdir', d);
    expect(bad.code).toBe(14);
    expect(bad.stderr).toMatch(/CT 999: container does not exist/);
    expect(n.ok('job', 'list')).not.toMatch(/manual/);
    // One destroyed after the job was made fails at run time, the others still run.
    n.ok('create', '999', '--ostemplate', 'busybox');
    n.ok('job', 'add', 'manual', '--schedule', '0 3 * * *', '--ctid', '101,999', '--dumpdir', d, '--compress', 'none');
    n.ok('destroy', '999');
    const r = n.vzctl('job', 'run', 'manual');
    expect(r.code).toBe(8); // CT 999 failed
    expect(r.stdout).toMatch(/CT 101: ok/);
    const h = history('manual');
    const ok = h.find((x) => x.ctid === 101)!;
    expect(ok).toMatchObject({ trigger: 'manual', result: 'ok', error: null });
    expect(ok.size).toBe(fs.statSync(ok.archive!).size);
    expect(ok.durationMs).toBeGreaterThan(0);
    expect(Date.parse(ok.startedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(h.find((x) => x.ctid === 999)).toMatchObject({ result: 'error', error: expect.stringMatching(/does not exist/) });
    const text = n.ok('job', 'history', 'manual');
    expect(text).toMatch(/^JOB\s+CTID\s+TRIGGER\s+STATUS\s+START\s+DURATION\s+SIZE\s+ERROR/);
    n.ok('job', 'remove', 'manual');
  });

  it('migration jobs run vzmigrate [--online] DESTINATION CTID, and record a clear error when it is missing', () => {
    n.ok('job', 'add', 'evac', '--type', 'migrate', '--schedule', '0 2 * * 6', '--ctid', '101', '--destination', 'node2', '--online');
    expect(n.ok('job', 'list')).toMatch(/evac\s+migrate\s+0 2 \* \* 6\s+101\s+to node2 online/);
    // A vzmigrate that is not there (VZKIT_VZMIGRATE names which one a job runs).
    const bare = { ...n.env, PATH: '/usr/sbin:/usr/bin:/sbin:/bin', VZKIT_VZMIGRATE: '/nonexistent/vzmigrate' };
    let r = spawnSync(path.join(REPO, 'dist', 'vzctl'), ['job', 'run', 'evac'], { env: bare, encoding: 'utf8' });
    expect(r.status).toBe(8);
    expect(history('evac')[0]).toMatchObject({ ctid: 101, result: 'error', error: expect.stringMatching(/vzmigrate is not installed/) });
    // A stand-in vzmigrate on PATH shows the command line a job runs.
    const bin = dir('fakebin');
    fs.writeFileSync(path.join(bin, 'vzmigrate'), `#!/bin/sh\necho "$@" > ${bin}/args\necho "migrated"\n`, { mode: 0o755 });
    r = spawnSync(path.join(REPO, 'dist', 'vzctl'), ['job', 'run', 'evac'], { env: { ...bare, VZKIT_VZMIGRATE: path.join(bin, 'vzmigrate') }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(bin, 'args'), 'utf8').trim()).toBe('--online node2 101');
    expect(history('evac')[0]).toMatchObject({ result: 'ok', error: null });
    n.ok('job', 'remove', 'evac');
  });

  it('a run still going at the next time is not started twice', async () => {
    const d = dir('overlap');
    // stop mode takes about 2 s (stop, archive, start) on a schedule of every second.
    n.ok('job', 'add', 'overlap', '--schedule', '* * * * * *', '--ctid', '101', '--mode', 'stop', '--dumpdir', d, '--keep-last', '1');
    const v = vzd('--no-onboot');
    await until(() => history('overlap').filter((r) => r.result === 'ok').length >= 2, 30_000);
    v.proc.kill('SIGTERM');
    expect(await v.exited).toBe(0);
    const h = history('overlap').reverse();
    const ok = h.filter((r) => r.result === 'ok');
    const skipped = h.filter((r) => r.result === 'skipped');
    expect(ok.length).toBeGreaterThanOrEqual(2);
    expect(skipped.length).toBeGreaterThanOrEqual(1);
    expect(skipped[0]!.error).toMatch(/still in progress/);
    for (let i = 1; i < ok.length; i++) {
      const prevEnd = Date.parse(ok[i - 1]!.startedAt) + ok[i - 1]!.durationMs!;
      expect(Date.parse(ok[i]!.startedAt)).toBeGreaterThanOrEqual(prevEnd);
    }
    expect(h.some((r) => r.result === 'running')).toBe(false);
    expect(archivesIn(d)).toHaveLength(1);
    expect(n.ok('status', '101')).toMatch(/running/);
    n.ok('job', 'remove', 'overlap');
  }, 60_000);

  it('runs missed while vzd was down are caught up once at start, only with --repeat-missed', async () => {
    const d = dir('missed');
    n.ok('job', 'add', 'catchup', '--schedule', '*/3 * * * * *', '--ctid', '101', '--dumpdir', d, '--repeat-missed');
    n.ok('job', 'add', 'nocatchup', '--schedule', '*/3 * * * * *', '--ctid', '101', '--dumpdir', d);
    await sleep(7000); // at least two firings pass with no vzd
    const v = vzd('--no-onboot');
    await until(() => /job catchup: CT 101 ok/.test(v.log()), 15_000);
    v.proc.kill('SIGTERM');
    expect(await v.exited).toBe(0);
    const missed = history('catchup').filter((r) => r.trigger === 'missed');
    expect(missed).toHaveLength(1);
    expect(missed[0]!.result).toBe('ok');
    expect(history('nocatchup').filter((r) => r.trigger === 'missed')).toHaveLength(0);
    expect(v.log()).toMatch(/job catchup: missed the run of/);
    n.ok('job', 'remove', 'catchup');
    n.ok('job', 'remove', 'nocatchup');
  }, 60_000);

  it('SIGTERM during a run: with --job-timeout 0 the run is aborted cleanly', async () => {
    const d = dir('abort');
    // 96 MiB of random data: gzip takes seconds over it.
    spawnSync('dd', ['if=/dev/urandom', `of=${n.root}/root/101/big`, 'bs=1M', 'count=96', 'status=none']);
    n.ok('job', 'add', 'long', '--schedule', '*/2 * * * * *', '--ctid', '101', '--mode', 'suspend', '--compress', 'gzip', '--dumpdir', d);
    const v = vzd('--no-onboot', '--job-timeout', '0');
    await until(() => /Creating archive/.test(v.log()), 20_000);
    v.proc.kill('SIGTERM');
    expect(await v.exited).toBe(0);
    expect(v.log()).toMatch(/aborting running jobs/);
    const h = history('long');
    expect(h[0]).toMatchObject({ result: 'error', error: expect.stringMatching(/aborted/) });
    expect(fs.readdirSync(d)).toEqual([]); // no partial archive, no staging dir
    expect(n.ok('status', '101')).toMatch(/running/);
    fs.rmSync(`${n.root}/root/101/big`);
    n.ok('job', 'remove', 'long');
  }, 60_000);

  it('starts onboot containers in bootorder and stops them on SIGTERM with --stop-on-exit', async () => {
    n.ok('create', '201', '--ostemplate', 'busybox', '--onboot', 'yes', '--bootorder', '1');
    n.ok('create', '202', '--ostemplate', 'busybox', '--onboot', 'yes', '--bootorder', '10');
    n.ok('create', '203', '--ostemplate', 'busybox');
    const v = vzd('--stop-on-exit');
    await until(() => /onboot: CT 201 started/.test(v.log()), 20_000);
    const log = v.log();
    expect(log.indexOf('onboot: CT 202 started')).toBeGreaterThan(-1);
    expect(log.indexOf('onboot: CT 202 started')).toBeLessThan(log.indexOf('onboot: CT 201 started'));
    expect(n.ok('status', '201')).toMatch(/running/);
    expect(n.ok('status', '202')).toMatch(/running/);
    expect(n.ok('status', '203')).toMatch(/down/);
    // A second vzd on the same node is refused.
    const second = spawnSync(path.join(REPO, 'dist', 'vzd'), ['--no-onboot'], { env: n.env, encoding: 'utf8', timeout: 10_000 });
    expect(second.status).toBe(9);
    expect(second.stderr).toMatch(/another vzd/);
    v.proc.kill('SIGTERM');
    expect(await v.exited).toBe(0);
    const end = v.log();
    for (const ct of ['101', '201', '202']) expect(n.ok('status', ct)).toMatch(/down/);
    expect(end.indexOf('CT 201 stopped')).toBeLessThan(end.indexOf('CT 202 stopped'));
  }, 90_000);
});
