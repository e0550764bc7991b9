/**
 * vzdump / vzrestore for real, as root: round trips in stop and suspend mode (owners, modes,
 * xattrs, ACLs, hard links, sparse files, symlinks identical, a new CTID shifted into its own
 * uid range), a stateful archive's checkpoint restored, and the failures a user meets: snapshot
 * mode without CRIU, corrupted and truncated archives, a full or missing dump directory, an
 * existing container. After each failure the container still runs and nothing is left behind.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { REPO, TestNode, isRoot, waitFor } from './harness.js';
import { readTree, type TreeEntry } from './backup-tree.js';

export function tool(n: TestNode, cmd: 'vzdump' | 'vzrestore' | 'vzctl', ...args: string[]) {
  const r = spawnSync(path.join(REPO, 'dist', cmd), args, { env: n.env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

describe.skipIf(!isRoot)('vzdump and vzrestore (root, real containers)', () => {
  let n: TestNode;
  let dumpdir: string;
  let base: number;
  let full: string;
  const mnt = () => `${n.root}/root/101`;
  const initPid = () => Number(fs.readFileSync(`${n.root}/run/101.pid`, 'utf8').trim().split(/\s+/)[1]);

  beforeAll(() => {
    n = new TestNode('', { idmapCount: 8 });
    dumpdir = path.join(n.dir, 'dumps');
    fs.mkdirSync(dumpdir);
    n.ok('create', '101', '--ostemplate', 'busybox', '--name', 'web', '--hostname', 'web1');
    n.ok('start', '101');
    base = fs.statSync(`${n.root}/private/101`).uid;
    // Test data written from the host into the running container's root, owned by its uids.
    const d = path.join(mnt(), 'data');
    const own = (p: string, u: number, g = u) => fs.lchownSync(p, base + u, base + g);
    fs.mkdirSync(path.join(d, 'sub'), { recursive: true });
    own(d, 0);
    own(path.join(d, 'sub'), 1000);
    fs.chmodSync(path.join(d, 'sub'), 0o1777);
    fs.writeFileSync(path.join(d, 'file'), 'hello\n');
    own(path.join(d, 'file'), 1000, 1001);
    fs.chmodSync(path.join(d, 'file'), 0o640);
    fs.linkSync(path.join(d, 'file'), path.join(d, 'sub', 'hardlink'));
    fs.symlinkSync('../file', path.join(d, 'sub', 'symlink'));
    own(path.join(d, 'sub', 'symlink'), 1000);
    fs.writeFileSync(path.join(d, 'suid'), '#!/bin/sh\n');
    own(path.join(d, 'suid'), 0);
    fs.chmodSync(path.join(d, 'suid'), 0o4755);
    // Sparse: 64 MiB with 4 KiB of data in the middle.
    const fd = fs.openSync(path.join(d, 'sparse'), 'w');
    fs.writeSync(fd, Buffer.alloc(4096, 7), 0, 4096, 32 * 1024 * 1024);
    fs.ftruncateSync(fd, 64 * 1024 * 1024);
    fs.closeSync(fd);
    own(path.join(d, 'sparse'), 1002);
    const sh = (cmd: string, ...args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    };
    sh('setfattr', '-n', 'user.color', '-v', 'blue', path.join(d, 'file'));
    sh('setfattr', '-n', 'user.empty', path.join(d, 'sub'));
    sh('setfacl', '-m', `u:${base + 1005}:rw,g:${base + 1006}:r`, path.join(d, 'file'));
    sh('setfacl', '-d', '-m', `u:${base + 1007}:rwx`, path.join(d, 'sub'));
    full = path.join(n.dir, 'full');
    fs.mkdirSync(full);
    sh('mount', '-t', 'tmpfs', '-o', 'size=1m', 'vzkit-test-full', full);
  });
  afterAll(() => {
    if (full) spawnSync('umount', [full]);
    n?.cleanup();
  });

  const dataTree = (root: string, b: number): Record<string, TreeEntry> => readTree(path.join(root, 'data'), b);
  const archives = () => fs.readdirSync(dumpdir).filter((f) => f.endsWith('.tar.zst') || f.endsWith('.tar.gz') || f.endsWith('.tar'));

  it('stop mode: archive, the container runs again, restore into a new CTID is identical in its own uid range', () => {
    const before = dataTree(mnt(), base);
    expect(before['file']!.acl).toContain('user:1005:rw-');
    expect(before['sparse']!.allocated).toBeLessThan(1024 * 1024);
    const r = tool(n, 'vzdump', '--mode', 'stop', '--dumpdir', dumpdir, '101');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/down [\d.]+ s/);
    expect(n.ok('status', '101')).toMatch(/running/);
    const [a] = archives();
    expect(a).toMatch(/^vzdump-101-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.tar\.zst$/);
    const sum = fs.readFileSync(path.join(dumpdir, `${a}.sha256`), 'utf8');
    expect(spawnSync('sha256sum', ['-c', `${a}.sha256`], { cwd: dumpdir }).status).toBe(0);
    expect(sum).toMatch(/^[0-9a-f]{64} {2}vzdump-101-/);
    // Owners in the archive are the container's own; the manifest holds the config.
    const list = spawnSync('tar', ['-tvf', path.join(dumpdir, a!), '--numeric-owner'], { encoding: 'utf8' }).stdout;
    expect(list).toMatch(/^-rw-r--r-- 0\/0 .* vzdump\.yaml$/m);
    expect(list).toMatch(/1000\/1001 .* root\/data\/file$/m);
    const manifest = spawnSync('tar', ['-xOf', path.join(dumpdir, a!), 'vzdump.yaml'], { encoding: 'utf8' }).stdout;
    expect(manifest).toMatch(/^ctid: 101$/m);
    expect(manifest).toMatch(/^name: web$/m);
    expect(manifest).toMatch(/hostname: web1/);

    const rr = tool(n, 'vzrestore', path.join(dumpdir, a!), '102');
    expect(rr.code).toBe(0);
    const base102 = fs.statSync(`${n.root}/private/102`).uid;
    expect(base102).not.toBe(base);
    expect(dataTree(`${n.root}/private/102`, base102)).toEqual(before);
    // The name stays with CT 101; the rest of the config comes along.
    const st = JSON.parse(n.ok('status', '102', '--json')) as Record<string, unknown>;
    expect(st.name ?? null).toBeNull();
    expect(spawnSync('getfacl', ['-n', `${n.root}/private/102/data/file`], { encoding: 'utf8' }).stdout).toContain(`user:${base102 + 1005}:rw-`);
    // Inside, the restored container sees its own ids.
    n.ok('start', '102');
    // Group bits show the ACL mask (rw) once named entries exist.
    expect(n.ok('exec', '102', 'stat', '-c', '%u:%g %a', '/data/file').trim()).toBe('1000:1001 660');
    expect(n.ok('exec', '102', 'cat', '/data/sub/symlink')).toBe('hello\n');
    n.ok('stop', '102');
  });

  it('suspend mode: copies live, freezes only for the final pass, the container keeps running', () => {
    const pid = initPid();
    const before = dataTree(mnt(), base);
    const r = tool(n, 'vzdump', '--mode', 'suspend', '--compress', 'gzip', '--dumpdir', dumpdir, '101');
    expect(r.code).toBe(0);
    const frozen = Number(/frozen (\d+) ms/.exec(r.stdout)?.[1]);
    expect(frozen).toBeGreaterThanOrEqual(0);
    expect(frozen).toBeLessThan(5000);
    expect(initPid()).toBe(pid); // never stopped
    expect(fs.readdirSync(dumpdir).filter((f) => f.startsWith('.'))).toEqual([]); // staging removed
    const a = archives().find((f) => f.endsWith('.tar.gz'))!;
    expect(tool(n, 'vzrestore', path.join(dumpdir, a), '103', '--start').code).toBe(0);
    const base103 = fs.statSync(`${n.root}/private/103`).uid;
    expect(dataTree(`${n.root}/root/103`, base103)).toEqual(before);
    expect(n.ok('status', '103')).toMatch(/running/);
    n.ok('stop', '103');
  });

  it('snapshot mode without CRIU is refused in one line, nothing changed', () => {
    const pid = initPid();
    const count = fs.readdirSync(dumpdir).length;
    const r = spawnSync(path.join(REPO, 'dist/vzdump'), ['--mode', 'snapshot', '--dumpdir', dumpdir, '101'], {
      env: { ...n.env, VZKIT_CRIU: '/nonexistent/criu' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(143);
    expect(r.stderr).toMatch(/snapshot needs CRIU/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.readdirSync(dumpdir)).toHaveLength(count);
    expect(initPid()).toBe(pid);
  });

  it('vzrestore refuses to overwrite without --force; --force replaces a stopped container only', () => {
    const a = path.join(dumpdir, archives().find((f) => f.endsWith('.tar.zst'))!);
    fs.writeFileSync(`${n.root}/private/102/data/marker`, 'old');
    let r = tool(n, 'vzrestore', a, '102');
    expect(r.code).toBe(44);
    expect(r.stderr).toMatch(/already exists.*--force/);
    expect(fs.existsSync(`${n.root}/private/102/data/marker`)).toBe(true);
    r = tool(n, 'vzrestore', a, '101', '--force');
    expect(r.code).toBe(32);
    expect(n.ok('status', '101')).toMatch(/running/);
    r = tool(n, 'vzrestore', a, '102', '--force');
    expect(r.code).toBe(0);
    expect(fs.existsSync(`${n.root}/private/102/data/marker`)).toBe(false);
    expect(fs.readdirSync(`${n.root}/private`).sort()).toEqual(['101', '102', '103']);
  });

  it('a corrupted or truncated archive, or one without its checksum: one clear line, nothing restored', () => {
    const src = path.join(dumpdir, archives().find((f) => f.endsWith('.tar.zst'))!);
    const bad = path.join(n.dir, path.basename(src));
    const check = (code: number, msg: RegExp) => {
      const r = tool(n, 'vzrestore', bad, '105');
      expect(r.code).toBe(code);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(n.ok('status', '105')).toMatch(/deleted/);
      expect(fs.existsSync(`${n.root}/private/105`)).toBe(false);
    };
    const bytes = fs.readFileSync(src);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(bad, bytes);
    fs.copyFileSync(`${src}.sha256`, `${bad}.sha256`);
    check(21, /corrupt or truncated/);
    fs.writeFileSync(bad, fs.readFileSync(src).subarray(0, 100_000));
    check(21, /corrupt or truncated/);
    fs.rmSync(`${bad}.sha256`);
    fs.copyFileSync(src, bad);
    check(21, /no checksum/);
    expect(n.ok('status', '101')).toMatch(/running/);
  });

  it('an archive whose checksum matches but whose data ends early: the extraction fails and the undo list removes everything', () => {
    const src = path.join(dumpdir, archives().find((f) => f.endsWith('.tar.zst'))!);
    const cut = path.join(n.dir, 'cut', path.basename(src));
    fs.mkdirSync(path.dirname(cut), { recursive: true });
    fs.writeFileSync(cut, fs.readFileSync(src).subarray(0, Math.floor(fs.statSync(src).size * 0.6)));
    // A checksum of the cut file, as if it had been cut before it was recorded.
    const sum = spawnSync('sha256sum', [path.basename(cut)], { cwd: path.dirname(cut), encoding: 'utf8' }).stdout;
    fs.writeFileSync(`${cut}.sha256`, sum);
    const r = tool(n, 'vzrestore', cut, '106');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot extract root\/ from .*: .*(unexpected end|Unexpected EOF|truncated|premature)/i);
    // One error line (besides the warning that CT 101 keeps the name "web").
    expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('vzkit: warning:'))).toHaveLength(1);
    expect(n.ok('status', '106')).toMatch(/deleted/);
    expect(fs.readdirSync(`${n.root}/private`).filter((f) => f.startsWith('106'))).toEqual([]);
  });

  it('progress on a terminal: bytes done / total', () => {
    const r = spawnSync('script', ['-qec', `${path.join(REPO, 'dist', 'vzdump')} --mode suspend --dumpdir ${dumpdir} 101`, '/dev/null'], {
      env: n.env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\[#+\.*\]\s+100% Archived [\d.]+ MiB/);
  });

  it('vzdump SIGKILLed while the container is frozen: the guard thaws it; the next vzdump removes the leftovers', async () => {
    // Enough files that the frozen second pass lasts long enough to be caught.
    const many = path.join(mnt(), 'data', 'many');
    fs.mkdirSync(many);
    for (let i = 0; i < 3000; i++) fs.writeFileSync(path.join(many, String(i)), '');
    spawnSync('chown', ['-R', `${base}:${base}`, many]);
    const state = fs
      .readdirSync('/sys/fs/cgroup/freezer')
      .includes(n.node)
      ? `/sys/fs/cgroup/freezer/${n.node}/101/freezer.state`
      : `/sys/fs/cgroup/${n.node}/101/cgroup.events`;
    const frozenRe = state.endsWith('freezer.state') ? 'FROZEN' : 'frozen 1';
    let caught = false;
    for (let attempt = 0; attempt < 5 && !caught; attempt++) {
      const p = spawn(path.join(REPO, 'dist', 'vzdump'), ['--mode', 'suspend', '--dumpdir', dumpdir, '101'], { env: n.env, stdio: 'ignore' });
      const exited = new Promise((r) => p.once('exit', (_c, sig) => r(sig)));
      // A busy loop in a shell: SIGKILL the moment the freezer says frozen.
      const killer = spawnSync('sh', ['-c', `end=$(($(date +%s) + 20)); while [ $(date +%s) -lt $end ]; do grep -q '${frozenRe}' ${state} && { kill -9 ${p.pid}; echo killed; exit 0; }; done`], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      await exited;
      caught = killer.stdout.includes('killed');
    }
    expect(caught).toBe(true);
    // The guard got SIGTERM from the kernel and thawed it.
    expect(waitFor(() => !new RegExp(frozenRe).test(fs.readFileSync(state, 'utf8')), 3000)).toBe(true);
    expect(n.ok('exec', '101', 'echo', 'alive').trim()).toBe('alive');
    expect(fs.readdirSync(dumpdir).some((f) => f.startsWith(`.vzdump-${n.node}-101-staging-`))).toBe(true);
    // The next backup of the container clears what the killed one left.
    expect(tool(n, 'vzdump', '--mode', 'suspend', '--dumpdir', dumpdir, '101').code).toBe(0);
    expect(fs.readdirSync(dumpdir).filter((f) => f.startsWith('.') || f.endsWith('.tmp'))).toEqual([]);
    expect(fs.readdirSync(`${n.root}/run`).filter((f) => f.startsWith('vzdump-'))).toEqual([]);
    fs.rmSync(many, { recursive: true });
  }, 120_000);

  it('a full dump directory: NO_SPACE, no partial file, the container still runs (stop and suspend)', () => {
    for (const mode of ['suspend', 'stop']) {
      const pidBefore = initPid();
      const r = tool(n, 'vzdump', '--mode', mode, '--dumpdir', full, '101');
      expect({ mode, code: r.code }).toEqual({ mode, code: 46 });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/No space left|ENOSPC/);
      expect(fs.readdirSync(full)).toEqual([]);
      expect(n.ok('status', '101')).toMatch(/running/);
      if (mode === 'suspend') expect(initPid()).toBe(pidBefore);
    }
  });

  it('a dump directory that does not exist: a clear error before anything happens', () => {
    const pid = initPid();
    const r = tool(n, 'vzdump', '--dumpdir', path.join(n.dir, 'nosuch'), '101');
    expect(r.code).toBe(21);
    expect(r.stderr).toMatch(/dump directory .*nosuch does not exist/);
    expect(initPid()).toBe(pid);
  });

  it('the image layout: its files are archived (mounted) and restored into a new image', () => {
    n.ok('create', '120', '--ostemplate', 'busybox', '--layout', 'image', '--diskspace', '128M');
    n.ok('mount', '120');
    const b120 = fs.statSync(`${n.root}/root/120`).uid;
    fs.mkdirSync(`${n.root}/root/120/data`);
    fs.lchownSync(`${n.root}/root/120/data`, b120, b120);
    fs.writeFileSync(`${n.root}/root/120/data/f`, 'image data\n');
    fs.lchownSync(`${n.root}/root/120/data/f`, b120 + 33, b120 + 33);
    const before = readTree(`${n.root}/root/120/data`, b120);
    n.ok('umount', '120');
    const r = tool(n, 'vzdump', '--dumpdir', dumpdir, '120');
    expect(r.code).toBe(0);
    expect(n.ok('status', '120')).toMatch(/unmounted down/); // left as it was
    const a = archives().find((f) => f.startsWith('vzdump-120-'))!;
    expect(tool(n, 'vzrestore', path.join(dumpdir, a), '121').code).toBe(0);
    expect(fs.readdirSync(`${n.root}/private/121`)).toEqual(['root.img']);
    n.ok('mount', '121');
    const b121 = fs.statSync(`${n.root}/root/121`).uid;
    expect(b121).not.toBe(b120);
    expect(readTree(`${n.root}/root/121/data`, b121)).toEqual(before);
    n.ok('umount', '121');
  });

  it('--all backs up every container, default dumpdir under the node root', () => {
    const r = tool(n, 'vzdump', '--all', '--mode', 'suspend', '--json');
    expect(r.code).toBe(0);
    const results = JSON.parse(r.stdout) as Array<{ ctid: number; sha256: string; bytes: number }>;
    expect(results.map((x) => x.ctid)).toEqual([101, 102, 103, 120, 121]);
    for (const x of results) expect(x.sha256).toMatch(/^[0-9a-f]{64}$/);
    const files = fs.readdirSync(path.join(n.root, 'backup'));
    for (const ct of [101, 102, 103, 120, 121]) expect(files.some((f) => f.startsWith(`vzdump-${ct}-`) && f.endsWith('.tar.zst'))).toBe(true);
  });
});

describe.skipIf(!isRoot)('stateful archive format (checkpoint/ member)', () => {
  let n: TestNode;
  beforeAll(() => {
    n = new TestNode();
    n.ok('create', '301', '--ostemplate', 'busybox');
  });
  afterAll(() => n?.cleanup());

  it('a checkpoint directory given to the dump is archived and restored beside the new container', async () => {
    // What `vzctl suspend` (issue 7) will hand over: CRIU's image dir, root's files on the host.
    const images = path.join(n.dir, 'criu-images');
    fs.mkdirSync(images);
    fs.writeFileSync(path.join(images, 'inventory.img'), Buffer.from([1, 2, 3, 4]));
    fs.writeFileSync(path.join(images, 'pages-1.img'), Buffer.alloc(8192, 9), { mode: 0o600 });
    const { Context } = await import('../../src/core/context.js');
    const { loadGlobalConfig } = await import('../../src/config/global.js');
    const { dumpContainer } = await import('../../src/backup/dump.js');
    const ctx = new Context({ cfg: loadGlobalConfig(n.env) });
    const dumps = path.join(n.dir, 'dumps');
    fs.mkdirSync(dumps);
    let r;
    try {
      r = await dumpContainer(ctx, { ctid: 301, mode: 'stop', compression: 'zstd', dumpdir: dumps, checkpointDir: images });
    } finally {
      ctx.close();
    }
    const manifest = spawnSync('tar', ['-xOf', r.archive, 'vzdump.yaml'], { encoding: 'utf8' }).stdout;
    expect(manifest).toMatch(/^checkpoint: true$/m);
    // The node's own archive (its .auth verifies with the node's key) is trusted without the flag.
    // Into another CTID (another uid range) the checkpoint cannot resume: left out, with a warning.
    const other = tool(n, 'vzrestore', r.archive, '302');
    expect(other.code).toBe(0);
    expect(other.stderr).toMatch(/checkpoint of another uid range/);
    expect(other.stdout).toMatch(/authenticated by this node's backup key/);
    expect(fs.existsSync(path.join(n.root, 'dump', '302'))).toBe(false);
    expect(n.ok('status', '302')).toMatch(/down/);
    // The same archive without its .auth (as another node's would come) into its own slot: not
    // vouched for, so the checkpoint is left out (CRIU would restore it as host root).
    const foreign = path.join(n.dir, 'foreign', path.basename(r.archive));
    fs.mkdirSync(path.dirname(foreign));
    for (const ext of ['', '.sha256']) fs.copyFileSync(`${r.archive}${ext}`, `${foreign}${ext}`);
    const untrusted = tool(n, 'vzrestore', foreign, '301', '--force');
    expect(untrusted.code).toBe(0);
    expect(untrusted.stderr).toMatch(/not taken from the archive: its CRIU checkpoint \(the container boots afresh\) \(vzrestore --trust-archive keeps them\)/);
    expect(n.ok('status', '301')).toMatch(/down/);
    expect(fs.existsSync(path.join(n.root, 'dump', '301'))).toBe(false);
    // --trust-archive vouches for it: into its own slot the checkpoint comes back, the container is suspended.
    expect(tool(n, 'vzrestore', foreign, '301', '--force', '--trust-archive').code).toBe(0);
    expect(n.ok('status', '301')).toMatch(/suspended/);
    // And so does the node's own archive without the flag.
    expect(tool(n, 'vzrestore', r.archive, '301', '--force').code).toBe(0);
    expect(n.ok('status', '301')).toMatch(/suspended/);
    const restored = path.join(n.root, 'dump', '301');
    expect(fs.readdirSync(restored).sort()).toEqual(['inventory.img', 'pages-1.img']);
    expect(fs.readFileSync(path.join(restored, 'pages-1.img')).equals(Buffer.alloc(8192, 9))).toBe(true);
    const st = fs.statSync(path.join(restored, 'pages-1.img'));
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o600]);
    // The files came back too.
    expect(fs.existsSync(path.join(n.root, 'private', '302', 'bin', 'busybox'))).toBe(true);
    expect(fs.existsSync(path.join(n.root, 'private', '301', 'bin', 'busybox'))).toBe(true);
  });
});
