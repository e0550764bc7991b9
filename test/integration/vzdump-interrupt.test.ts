/**
 * vzdump interrupted (issue 13): `vzdump --mode stop` stopped by SIGINT, SIGTERM or SIGKILL while
 * the container halts (its inittab's shutdown action sleeps, so the halt lasts seconds) never
 * leaves a running container stopped: SIGINT/SIGTERM start it again before vzdump exits (130);
 * after SIGKILL its journal (run/CTID.vzdump) makes the next locked operation, the next vzdump or
 * vzd's start bring it back, while `vzctl stop` just keeps it stopped. And suspend mode on a
 * container with a 2 GiB sparse file reads no holes (it read all of them as zeros before) and the
 * restored file is still sparse.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { REPO, TestNode, isRoot, waitFor, pidsInNode } from './harness.js';

describe.skipIf(!isRoot)('vzdump interrupted, and sparse files in suspend mode', () => {
  let n: TestNode;
  let dumpdir: string;
  const CT = '301';
  const journal = () => path.join(n.root, 'run', `${CT}.vzdump`);
  const status = () => n.ok('status', CT).trim();
  const running = () => status().endsWith(' running');
  const leftovers = () => fs.readdirSync(dumpdir).filter((f) => f.startsWith('.') || f.endsWith('.tmp'));
  const tool = (cmd: string, args: string[]) => spawnSync(path.join(REPO, 'dist', cmd), args, { env: n.env, encoding: 'utf8', timeout: 120_000 });

  /** The container's slow shutdown action is running: the halt is under way. */
  const halting = () =>
    pidsInNode(n.node).some((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').endsWith('sleep\u00004\u0000');
      } catch {
        return false;
      }
    });

  /** Starts `vzdump --mode stop`, waits for the halt to be under way, sends `sig`; resolves with how it ended. */
  async function interruptDuringHalt(sig: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
    spawnSync('sleep', ['1.05']); // archive names have a one-second resolution
    const p = spawn(path.join(REPO, 'dist', 'vzdump'), ['--mode', 'stop', '--dumpdir', dumpdir, CT], { env: n.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
      p.once('exit', (code, signal) => resolve({ code, signal, stderr })),
    );
    expect(waitFor(halting, 20_000)).toBe(true);
    p.kill(sig);
    const r = await done;
    await new Promise((res) => setTimeout(res, 50)); // stderr's last bytes
    return { ...r, stderr };
  }

  beforeAll(() => {
    n = new TestNode('', { idmapCount: 8 });
    dumpdir = path.join(n.dir, 'dumps');
    fs.mkdirSync(dumpdir);
    n.ok('create', CT, '--ostemplate', 'busybox');
    // A halt that takes four seconds: busybox init runs the shutdown actions before it exits.
    const inittab = path.join(n.root, 'private', CT, 'etc', 'inittab');
    fs.writeFileSync(inittab, fs.readFileSync(inittab, 'utf8').replace('::shutdown:', '::shutdown:/bin/sleep 4\n::shutdown:'));
    n.ok('start', CT);
  });
  afterAll(() => n?.cleanup());

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`${sig} during the halt: the container runs again before vzdump exits 130, nothing is left, the next vzdump works`, async () => {
      const r = await interruptDuringHalt(sig);
      expect({ code: r.code, signal: r.signal }).toEqual({ code: 130, signal: null });
      expect(r.stderr).toMatch(new RegExp(`${sig}: interrupting`));
      expect(r.stderr).toMatch(/vzdump: CT 301: backup aborted by SIG(INT|TERM): no archive was kept/);
      expect(status()).toBe(`CTID ${CT} exist mounted running`);
      expect(n.ok('exec', CT, 'echo', 'alive').trim()).toBe('alive');
      expect(fs.existsSync(journal())).toBe(false);
      expect(fs.readdirSync(dumpdir)).toEqual([]);
      const ok = tool('vzdump', ['--mode', 'stop', '--dumpdir', dumpdir, CT]);
      expect({ code: ok.status, err: ok.stderr }).toEqual({ code: 0, err: '' });
      expect(running()).toBe(true);
      for (const f of fs.readdirSync(dumpdir)) fs.rmSync(path.join(dumpdir, f));
    }, 120_000);
  }

  it('SIGKILL during the halt: status says down; the next vzdump, any locked operation or vzd starts it again; vzctl stop keeps it stopped', async () => {
    // 1. The next vzdump: it restarts the container, then backs it up as usual.
    let r = await interruptDuringHalt('SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    expect(fs.existsSync(journal())).toBe(true);
    expect(waitFor(() => !running(), 15_000)).toBe(true); // the halt goes on without vzdump
    expect(status()).toMatch(/ down$/);
    spawnSync('sleep', ['1.05']);
    let d = tool('vzdump', ['--mode', 'stop', '--dumpdir', dumpdir, CT]);
    expect(d.status).toBe(0);
    expect(d.stderr).toMatch(/a killed vzdump \(pid \d+\) had stopped it; it was started again/);
    expect(running()).toBe(true);
    expect(fs.existsSync(journal())).toBe(false);
    expect(leftovers()).toEqual([]);

    // 2. Any locked operation, even while the halt is still under way: it sees the halt through, then starts it.
    r = await interruptDuringHalt('SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    n.ok('set', CT, '--cpuunits', '600', '--save');
    expect(running()).toBe(true);
    expect(n.ok('exec', CT, 'echo', 'alive').trim()).toBe('alive');
    expect(fs.existsSync(journal())).toBe(false);
    expect(leftovers()).toEqual([]);

    // 3. The admin stops it after the killed dump: it stays stopped (not started behind their back).
    r = await interruptDuringHalt('SIGKILL');
    expect(waitFor(() => !running(), 15_000)).toBe(true);
    const s = n.vzctl('stop', CT);
    expect(s.code).toBe(31); // vzctl's "not running": it is stopped already
    expect(s.stderr).toMatch(/it stays stopped/);
    expect(status()).toBe(`CTID ${CT} exist unmounted down`);
    expect(fs.existsSync(journal())).toBe(false);
    n.ok('mount', CT); // a later operation does not start it either
    n.ok('umount', CT);
    expect(status()).toBe(`CTID ${CT} exist unmounted down`);
    n.ok('start', CT);

    // 4. The admin starts it: one start, no error about it running already.
    r = await interruptDuringHalt('SIGKILL');
    n.ok('start', CT);
    expect(running()).toBe(true);
    expect(fs.existsSync(journal())).toBe(false);

    // 5. vzd's start recovers it with no operation on the container at all.
    r = await interruptDuringHalt('SIGKILL');
    expect(waitFor(() => !running(), 15_000)).toBe(true);
    const vzd = spawn(path.join(REPO, 'dist', 'vzd'), ['--no-onboot'], { env: n.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    vzd.stdout!.on('data', (x) => (log += x));
    const vzdExit = new Promise((res) => vzd.once('exit', res));
    try {
      expect(waitFor(() => running(), 30_000)).toBe(true);
    } finally {
      vzd.kill('SIGTERM');
      await vzdExit;
    }
    expect(log).toMatch(/CT 301: an interrupted operation was recovered/);
    expect(fs.existsSync(journal())).toBe(false);
    d = tool('vzdump', ['--mode', 'stop', '--dumpdir', dumpdir, CT]);
    expect(d.status).toBe(0);
    expect(running()).toBe(true);
    expect(leftovers()).toEqual([]);
  }, 300_000);

  it('suspend mode with a 2 GiB sparse file: its holes are not read, the restored file is still sparse', () => {
    const root = path.join(n.root, 'root', CT);
    const base = fs.statSync(path.join(n.root, 'private', CT)).uid;
    const file = path.join(root, 'big.img');
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, Buffer.alloc(4096, 7), 0, 4096, 1024 * 1024 * 1024); // 4 KiB of data in the middle
    fs.ftruncateSync(fd, 2 * 1024 * 1024 * 1024);
    fs.closeSync(fd);
    fs.chownSync(file, base + 1000, base + 1000);
    fs.chmodSync(file, 0o640);
    expect(spawnSync('setfattr', ['-n', 'user.kind', '-v', 'disk', file]).status).toBe(0);
    for (const f of fs.readdirSync(dumpdir)) fs.rmSync(path.join(dumpdir, f), { recursive: true });
    spawnSync('sleep', ['1.05']);
    // What the whole vzdump read, its children included (a shell's /proc/self/io counts its reaped children).
    const t0 = Date.now();
    const r = spawnSync('sh', ['-c', `"$0" --mode suspend --dumpdir "$1" "$2" >&2 && grep '^rchar:' /proc/$$/io`, path.join(REPO, 'dist', 'vzdump'), dumpdir, CT], {
      env: n.env,
      encoding: 'utf8',
      timeout: 300_000,
    });
    const ms = Date.now() - t0;
    expect({ code: r.status, err: r.stderr }).toMatchObject({ code: 0 });
    const rchar = Number(/rchar: (\d+)/.exec(r.stdout)?.[1]);
    console.log(`vzdump --mode suspend with a 2 GiB sparse file: ${ms} ms, ${(rchar / 1048576).toFixed(0)} MiB read`);
    // The tree without the file is a few MiB; reading the holes would be 2 GiB (4 GiB with rsync's pipe).
    expect(rchar).toBeLessThan(256 * 1024 * 1024);
    const a = fs.readdirSync(dumpdir).find((f) => f.endsWith('.tar.zst'))!;
    expect(fs.statSync(path.join(dumpdir, a)).size).toBeLessThan(64 * 1024 * 1024);
    const rr = tool('vzrestore', [path.join(dumpdir, a), '302']);
    expect({ code: rr.status, err: rr.stderr }).toMatchObject({ code: 0 });
    const out = path.join(n.root, 'private', '302', 'big.img');
    const st = fs.statSync(out);
    const base302 = fs.statSync(path.join(n.root, 'private', '302')).uid;
    expect({ size: st.size, sparse: st.blocks * 512 < 1024 * 1024, uid: st.uid - base302, mode: st.mode & 0o777 }).toEqual({
      size: 2 * 1024 * 1024 * 1024,
      sparse: true,
      uid: 1000,
      mode: 0o640,
    });
    const rfd = fs.openSync(out, 'r');
    const buf = Buffer.alloc(8192);
    fs.readSync(rfd, buf, 0, 8192, 1024 * 1024 * 1024 - 4096);
    fs.closeSync(rfd);
    expect([buf.subarray(0, 4096).every((b) => b === 0), buf.subarray(4096).every((b) => b === 7)]).toEqual([true, true]);
    expect(spawnSync('getfattr', ['--only-values', '-n', 'user.kind', out], { encoding: 'utf8' }).stdout).toBe('disk');
    expect(running()).toBe(true);
    n.ok('destroy', '302');
    fs.rmSync(file);
  }, 300_000);
});
