/**
 * vzctl killed with SIGKILL at any point of create, start, stop or destroy: the next command
 * reports the truth and can carry on, and nothing leaks (mounts, processes, cgroups).
 * Also: the per-container lock, and host writes that a container's symlinks cannot redirect.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { TestNode, isRoot, REPO, listMountsUnder, pidsInNode, waitFor } from './harness.js';

function killAfter(n: TestNode, args: string[], ms: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(path.join(REPO, 'dist/vzctl'), args, { env: n.env, stdio: 'ignore' });
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

function statusOf(n: TestNode, ctid: string): string {
  return n.ok('status', ctid).trim();
}

describe.skipIf(!isRoot)('robustness (root, real containers)', () => {
  let n: TestNode;
  beforeAll(() => {
    n = new TestNode();
  });
  afterAll(() => n?.cleanup());

  it('survives SIGKILL at any point of create, start, stop and destroy', async () => {
    // Warm the template cache so the delays below land inside the interesting steps.
    n.ok('create', '300', '--ostemplate', 'busybox');
    n.ok('destroy', '300');
    for (const delay of [5, 40, 80, 120, 160, 250, 400]) {
      const id = String(300 + delay);
      await killAfter(n, ['create', id, '--ostemplate', 'busybox'], delay);
      let s = statusOf(n, id);
      expect(s).toMatch(new RegExp(`^CTID ${id} (exist|deleted) unmounted down$`));
      if (s.includes('deleted')) n.ok('create', id, '--ostemplate', 'busybox');
      await killAfter(n, ['start', id], delay);
      s = statusOf(n, id);
      expect(s).toMatch(new RegExp(`^CTID ${id} exist (mounted|unmounted) (running|down)$`));
      if (s.endsWith('down')) n.ok('start', id);
      expect(n.ok('exec', id, 'cat', '/proc/1/comm').trim()).toBe('init');
      await killAfter(n, ['stop', id], delay);
      s = statusOf(n, id);
      if (s.endsWith('running')) n.ok('stop', id, '--fast');
      else if (n.vzctl('stop', id).code !== 31) throw new Error('stop after a killed stop');
      expect(statusOf(n, id)).toBe(`CTID ${id} exist unmounted down`);
      await killAfter(n, ['destroy', id], delay);
      if (statusOf(n, id).includes('exist')) n.ok('destroy', id);
      expect(statusOf(n, id)).toBe(`CTID ${id} deleted unmounted down`);
    }
    expect(waitFor(() => pidsInNode(n.node).length === 0, 5000)).toBe(true);
    expect(listMountsUnder(n.root)).toEqual([]);
    expect(fs.readdirSync(path.join(n.root, 'private'))).toEqual([]);
  });

  it('recovers when the monitor itself is killed', () => {
    n.ok('create', '320', '--ostemplate', 'busybox');
    n.ok('start', '320');
    const [monitor] = fs.readFileSync(path.join(n.root, 'run/320.pid'), 'utf8').trim().split(/\s+/).map(Number);
    process.kill(monitor!, 'SIGKILL');
    // init dies with its monitor (PR_SET_PDEATHSIG), so the CT is down, truthfully.
    expect(waitFor(() => statusOf(n, '320').endsWith('down'), 5000)).toBe(true);
    n.ok('start', '320');
    expect(statusOf(n, '320')).toBe('CTID 320 exist mounted running');
    n.ok('stop', '320', '--fast');
    n.ok('destroy', '320');
    expect(waitFor(() => pidsInNode(n.node).length === 0, 5000)).toBe(true);
  });

  it('makes a second operation wait for the lock, then fail with exit code 9', () => {
    n.ok('create', '330', '--ostemplate', 'busybox');
    const lock = path.join(n.root, 'lock/330.lck');
    const holder = spawn('flock', [lock, 'sleep', '3'], { stdio: 'ignore' });
    try {
      waitFor(() => spawnSync('flock', ['-n', lock, 'true']).status !== 0, 2000);
      const r = n.run('vzctl', ['start', '330'], {});
      // The default wait is 10 s; this one gives up sooner through the environment.
      const quick = spawnSync(path.join(REPO, 'dist/vzctl'), ['start', '330'], {
        env: { ...n.env, VZKIT_LOCK_WAIT_MS: '200' },
        encoding: 'utf8',
      });
      expect(r.code === 0 || r.code === 9).toBe(true);
      if (r.code === 0) n.ok('stop', '330', '--fast');
      void quick;
    } finally {
      holder.kill('SIGKILL');
    }
    const holder2 = spawn('flock', [lock, 'sleep', '5'], { stdio: 'ignore' });
    try {
      waitFor(() => spawnSync('flock', ['-n', lock, 'true']).status !== 0, 2000);
      const quick = spawnSync(path.join(REPO, 'dist/vzctl'), ['start', '330'], {
        env: { ...n.env, VZKIT_LOCK_WAIT_MS: '300' },
        encoding: 'utf8',
      });
      expect(quick.status).toBe(9);
      expect(quick.stderr).toMatch(/locked/);
    } finally {
      holder2.kill('SIGKILL');
    }
    expect(statusOf(n, '330')).toBe('CTID 330 exist unmounted down');
  });

  it('never follows a symlink planted by the container when the host writes into it', () => {
    n.ok('create', '340', '--ostemplate', 'busybox');
    n.ok('start', '340');
    const target = `/tmp/vzkit-escape-${process.pid}`;
    fs.rmSync(target, { force: true });
    n.ok('exec', '340', 'sh', '-c', `rm -f /etc/hostname && ln -s ${target} /etc/hostname`);
    n.ok('set', '340', '--hostname', 'planted', '--save');
    expect(fs.existsSync(target)).toBe(false); // the host file was not created
    // The write landed inside the container, where the link points there.
    expect(n.ok('exec', '340', 'cat', target).trim()).toBe('planted');
    n.ok('exec', '340', 'sh', '-c', 'rm -rf /etc.real; mv /etc /etc.real; ln -s / /etc');
    n.ok('stop', '340', '--fast');
    n.ok('set', '340', '--hostname', 'again', '--save');
    expect(fs.readFileSync('/etc/hostname', 'utf8')).not.toBe('again\n');
    n.ok('destroy', '340');
  });

  it('reports a full disk as exit 46 and leaves nothing half made', () => {
    const dir = fs.mkdtempSync('/tmp/vzkit-full-');
    fs.chmodSync(dir, 0o711);
    // Room for the template cache (busybox is 2 MB) but not for a container copy of it.
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir]).status).toBe(0);
    try {
      fs.chmodSync(dir, 0o711);
      const cfg = path.join(dir, 'vzkit.yaml');
      fs.writeFileSync(cfg, `root: ${dir}/root\nnode: ${n.node}f\nidmap:\n  base: 5000000\n  count: 2\n`);
      const r = spawnSync(path.join(REPO, 'dist/vzctl'), ['create', '150', '--ostemplate', 'busybox'], {
        env: { ...process.env, VZKIT_CONFIG: cfg },
        encoding: 'utf8',
      });
      expect(r.status).toBe(46);
      expect(r.stderr).toMatch(/No space left on device/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      const st = spawnSync(path.join(REPO, 'dist/vzctl'), ['status', '150'], { env: { ...process.env, VZKIT_CONFIG: cfg }, encoding: 'utf8' });
      expect(st.stdout.trim()).toBe('CTID 150 deleted unmounted down');
      expect(fs.readdirSync(path.join(dir, 'root/private'))).toEqual([]);
    } finally {
      spawnSync('umount', ['-l', dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
