/**
 * vzdump --mode snapshot for real (CRIU): a running container with a counter is checkpointed,
 * archived with its files and resumed; the counter goes on without a reset. The archive restored
 * into the same CTID with --start resumes the processes where the checkpoint left them, without
 * --trust-archive: the node's own vzdump authenticated it with the node's backup key.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO, TestNode, isRoot } from './harness.js';

const hasCriu = fs.existsSync(process.env.VZKIT_CRIU ?? '/opt/vzkit/criu/sbin/criu');

describe.skipIf(!isRoot || !hasCriu)('vzdump --mode snapshot (CRIU)', () => {
  let n: TestNode;
  let dumpdir: string;
  const tool = (cmd: string, ...args: string[]) => spawnSync(path.join(REPO, 'dist', cmd), args, { env: n.env, encoding: 'utf8', timeout: 180_000 });
  // `echo $i > counter` truncates before it writes: a read can land in between and see an empty
  // file, so an empty read is retried rather than taken for 0.
  const counter = () => {
    for (let i = 0; i < 50; i++) {
      const s = fs.readFileSync(`${n.root}/root/401/root/counter`, 'utf8').trim();
      if (s) return Number(s);
      spawnSync('sleep', ['0.02']);
    }
    return 0;
  };
  const sleep = (ms: number) => spawnSync('sleep', [String(ms / 1000)]);
  // The loop's shell, a child of init after setsid; not its children caught between fork and exec
  // of `sleep`, which carry the same arguments for a moment.
  const loopPid = () => n.ok('exec', '401', 'sh', '-c', "ps -o pid,ppid,args | awk '$2 == 1 && /i=0/ {print $1}'");

  beforeAll(() => {
    // The default config: sysinfo(2) is intercepted, and its listeners come back with the restore.
    n = new TestNode();
    dumpdir = path.join(n.dir, 'dumps');
    fs.mkdirSync(dumpdir);
    n.ok('create', '401', '--ostemplate', 'busybox');
    n.ok('start', '401');
    const r = spawnSync(path.join(REPO, 'dist/vzctl'), ['exec', '401', 'sh', '-c', 'setsid sh -c \'i=0; while :; do i=$((i+1)); echo $i > /root/counter; sleep 0.1; done\' </dev/null >/dev/null 2>&1 &'], { env: n.env });
    expect(r.status).toBe(0);
    sleep(1000);
  });
  afterAll(() => n?.cleanup());

  it('checkpoints, archives and resumes: the counter goes on, the archive holds the checkpoint', () => {
    const pidsBefore = loopPid().trim();
    const before = counter();
    const r = tool('vzdump', '--mode', 'snapshot', '--compress', 'zstd', '--dumpdir', dumpdir, '401');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/frozen for \d+ ms/);
    sleep(500);
    const after = counter();
    expect(after).toBeGreaterThan(before); // went on, no reset to 0
    expect(loopPid().trim()).toBe(pidsBefore);
    const archive = fs.readdirSync(dumpdir).find((f) => f.endsWith('.tar.zst'))!;
    const list = spawnSync('tar', ['--zstd', '-tf', path.join(dumpdir, archive)], { encoding: 'utf8' }).stdout;
    expect(list).toMatch(/^checkpoint\/.*\.img$/m);
    expect(list).toMatch(/^root\/root\/counter$/m);
    expect(fs.readdirSync(path.join(n.root, 'dump')).filter((f) => f.startsWith('401'))).toEqual([]); // the dump was consumed by resume
  }, 240_000);

  it('vzrestore --start into the same CTID resumes the processes from the checkpoint', () => {
    const archive = path.join(dumpdir, fs.readdirSync(dumpdir).find((f) => f.endsWith('.tar.zst'))!);
    const list = spawnSync('tar', ['--zstd', '-xOf', archive, 'root/root/counter'], { encoding: 'utf8' }).stdout.trim();
    const atSnapshot = Number(list);
    n.ok('stop', '401', '--fast');
    n.ok('destroy', '401');
    // The node's own archive, authenticated by its backup key: its checkpoint is trusted without
    // --trust-archive (an archive without a valid .auth would boot afresh).
    expect(fs.readFileSync(`${archive}.auth`, 'utf8')).toMatch(/^vzkit-archive-auth v1 [0-9a-f]{64}\n$/);
    const r = tool('vzrestore', archive, '401', '--start');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/authenticated by this node's backup key/);
    sleep(600);
    const now = counter();
    // Resumed: the loop goes on from its checkpointed value (a fresh boot would have no loop at all).
    expect(now).toBeGreaterThan(atSnapshot);
    expect(n.ok('exec', '401', 'sh', '-c', "ps -o args | grep -c 'i=0' ").trim()).not.toBe('0');
    n.ok('stop', '401', '--fast');
    // Without --start it is restored suspended: vzctl start brings the processes back. (With the
    // flag, as an archive without its .auth needs it.)
    n.ok('destroy', '401');
    const q = tool('vzrestore', archive, '401', '--trust-archive');
    expect(q.status, q.stderr).toBe(0);
    expect(n.ok('status', '401')).toMatch(/suspended/);
    n.ok('start', '401');
    sleep(600);
    expect(counter()).toBeGreaterThan(atSnapshot);
    expect(n.ok('exec', '401', 'sh', '-c', "ps -o args | grep -c 'i=0' ").trim()).not.toBe('0');
    n.ok('stop', '401', '--fast');
  }, 240_000);
});
