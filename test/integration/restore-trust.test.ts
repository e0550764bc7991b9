/**
 * vzrestore of crafted archives (issue 13): a real vzdump of a busybox container, unpacked,
 * its vzdump.yaml edited or members added, packed again with a matching .sha256 (a checksum is
 * no signature: whoever hands the archive over can write one). Each crafted archive is refused
 * or neutralised in one line; nothing is left (no record, private area or dump dir), nothing
 * injected runs on the host, and another command on the node is not held up meanwhile.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { dump, load } from 'js-yaml';
import Database from 'better-sqlite3';
import { REPO, TestNode, isRoot } from './harness.js';

function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const sha = (f: string) => (fs.existsSync(f) ? createHash('sha256').update(fs.readFileSync(f)).digest('hex') : 'none');

describe.skipIf(!isRoot)('vzrestore of crafted archives (root, real containers)', () => {
  let n: TestNode;
  let base: string; // the node's own vzdump of CT 101 (stopped busybox)
  let count = 0;
  let injections = 0;

  const tool = (cmd: 'vzrestore' | 'vzdump', ...args: string[]) => {
    const r = spawnSync(path.join(REPO, 'dist', cmd), args, { env: n.env, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  const db = () => new Database(path.join(n.root, 'vzkit.db'), { readonly: true });
  const storedParams = (ctid: number): Record<string, unknown> => {
    const d = db();
    try {
      const rows = d.prepare('SELECT key, value FROM params WHERE ctid = ?').all(ctid) as Array<{ key: string; value: string }>;
      return Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value)]));
    } finally {
      d.close();
    }
  };
  /** The uid base the next restored container gets (the lowest free slot). */
  const nextBase = (): number => {
    const d = db();
    try {
      const used = new Set((d.prepare('SELECT idmap_slot AS s FROM containers').all() as Array<{ s: number }>).map((r) => r.s));
      let slot = 0;
      while (used.has(slot)) slot++;
      return n.idmapBase + slot * 65536;
    } finally {
      d.close();
    }
  };
  /**
   * What the host shows of itself that an injected ip command or a stray file would change (the
   * links and network namespaces named after this node: other tests come and go on the same machine).
   */
  const hostState = () => ({
    links: sh('ip', ['-o', 'link', 'show'])
      .split('\n')
      .map((l) => l.split(':')[1]?.trim() ?? '')
      .filter((l) => l.startsWith(n.node))
      .sort(),
    // This node's only (an injected one is named after it, line 137): other tests' rigs come and go.
    netns: sh('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((x) => x.startsWith(n.node))
      .sort(),
    hosts: sha('/etc/hosts'),
    markers: fs.readdirSync(n.dir).filter((f) => f.startsWith('INJECTED')),
    dumps: fs.existsSync(path.join(n.root, 'dump')) ? fs.readdirSync(path.join(n.root, 'dump')) : [],
  });

  /**
   * A copy of the base archive with its manifest edited (as an object, or as text) and extra
   * members put between vzdump.yaml and root/, where vzdump puts checkpoint/.
   */
  function craft(edit: { manifest?: (m: Record<string, unknown>) => void; text?: (t: string) => string; extra?: (stage: string) => string[]; from?: string }): string {
    const dir = path.join(n.dir, `craft-${++count}`);
    const stage = path.join(dir, 'stage');
    fs.mkdirSync(stage, { recursive: true });
    const plain = path.join(dir, 'plain.tar');
    const from = edit.from ?? base;
    sh('sh', ['-c', `zstd -d -q -c "$1" > "$2"`, 'sh', from, plain]);
    let text = sh('tar', ['-xOf', plain, 'vzdump.yaml']);
    if (edit.manifest) {
      const m = load(text) as Record<string, unknown>;
      edit.manifest(m);
      text = dump(m, { lineWidth: -1 });
    }
    if (edit.text) text = edit.text(text);
    fs.writeFileSync(path.join(stage, 'vzdump.yaml'), text);
    const extra = edit.extra ? edit.extra(stage) : [];
    sh('tar', ['--delete', '-f', plain, 'vzdump.yaml']);
    const out = path.join(dir, 'new.tar');
    sh('tar', ['-c', '--numeric-owner', '-f', out, '-C', stage, 'vzdump.yaml', ...extra]);
    sh('tar', ['-A', '-f', out, plain]);
    const archive = path.join(dir, path.basename(from));
    sh('sh', ['-c', `zstd -q -c "$1" > "$2"`, 'sh', out, archive]);
    fs.writeFileSync(`${archive}.sha256`, `${sha(archive)}  ${path.basename(archive)}\n`);
    for (const f of [plain, out]) fs.rmSync(f);
    return archive;
  }

  /** The refusal: its exit code, one line matching `msg`, nothing of the container left, nothing on the host changed. */
  function refused(archive: string, ctid: number, code: number, msg: RegExp, args: string[] = []) {
    const before = hostState();
    const r = tool('vzrestore', archive, String(ctid), ...args);
    // The old code restored these; starting one is where an injected ip line ran.
    if (r.code === 0) n.vzctl('start', String(ctid));
    expect(hostState()).toEqual(before);
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code });
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(n.ok('status', String(ctid))).toMatch(/deleted/);
    expect(fs.existsSync(path.join(n.root, 'private', String(ctid)))).toBe(false);
    expect(fs.existsSync(path.join(n.root, 'dump', String(ctid)))).toBe(false);
  }

  beforeAll(() => {
    n = new TestNode('', { idmapCount: 8 });
    n.ok('create', '101', '--ostemplate', 'busybox', '--hostname', 'web1');
    const dumps = path.join(n.dir, 'dumps');
    fs.mkdirSync(dumps);
    const r = tool('vzdump', '--dumpdir', dumps, '101');
    if (r.code !== 0) throw new Error(r.stderr);
    base = path.join(dumps, fs.readdirSync(dumps).find((f) => f.endsWith('.tar.zst'))!);
  });
  afterAll(() => {
    // What the old code's injected lines made (this node's names only).
    for (const ns of sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!)) if (ns.startsWith(n.node)) spawnSync('ip', ['netns', 'del', ns]);
    n?.cleanup();
  });

  /** ip batch lines that, once a newline splits them off, create a marker file as host root (each its own netns and marker). */
  const injected = (first: string, last: string) => {
    const k = ++injections;
    return `${first}\nnetns add ${n.node}n${k}\nnetns exec ${n.node}n${k} /bin/sh -c "touch ${path.join(n.dir, `INJECTED${k}`)}"\n${last}`;
  };
  const netif = (over: Record<string, unknown>) => ({
    ifname: 'eth0',
    mac: '02:11:22:33:44:55',
    host_ifname: `${n.node}-101.0`,
    host_mac: '02:11:22:33:44:56',
    ip: [],
    ...over,
  });

  it('the node vzdump writes no internal keys; its own archive restores (and older ones with matching internal keys)', () => {
    const text = sh('sh', ['-c', `zstd -d -q -c "$1" | tar -xOf - vzdump.yaml`, 'sh', base]);
    expect(text).not.toMatch(/^\s+_/m);
    const r = tool('vzrestore', base, '150');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // What an older vzdump wrote: the template's own values, accepted as they are.
    const old = craft({
      manifest: (m) => Object.assign(m.params as object, { _init: ['/sbin/init'], _init_type: 'busybox', _distro: 'busybox', _halt_signal: 'SIGUSR1', _reboot_signal: 'SIGTERM' }),
    });
    expect(tool('vzrestore', old, '151').code).toBe(0);
    expect(storedParams(151)).toMatchObject({ _init: ['/sbin/init'], _halt_signal: 'SIGUSR1', hostname: 'web1' });
    n.ok('destroy', '150');
    n.ok('destroy', '151');
  });

  it('a bridge name with a newline (ip -batch injection): refused, nothing runs', () => {
    const a = craft({ manifest: (m) => ((m.params as Record<string, unknown>).netif = [netif({ bridge: injected(`${n.node}b type bridge`, `link add ${n.node}c`) })]) });
    refused(a, 110, 21, /vzdump\.yaml: params\.netif: invalid bridge name "t\w+ type bridge\\nnetns add/);
    refused(a, 111, 21, /invalid bridge name/, ['--trust-archive']);
  });

  it('a host interface name with a newline: refused, nothing runs', () => {
    const a = craft({ manifest: (m) => ((m.params as Record<string, unknown>).netif = [netif({ host_ifname: injected(`${n.node}h type dummy`, `link add ${n.node}i`) })]) });
    refused(a, 112, 21, /params\.netif: invalid host interface name/);
  });

  it('a hostname with a newline (lines into /etc/hosts, rows into vzlist): refused', () => {
    const a = craft({ manifest: (m) => ((m.params as Record<string, unknown>).hostname = 'web1\n10.6.6.6 evil.example') });
    refused(a, 113, 21, /params\.hostname: invalid hostname "web1\\n10\.6\.6\.6 evil\.example"/);
    const b = craft({ manifest: (m) => (m.ostemplate = 'busybox\n 666 evil running') });
    refused(b, 114, 21, /vzdump\.yaml: ostemplate: not a template or profile name/);
  });

  it("an address of the host itself (its own interface's): refused as at create, nothing made", () => {
    // Read only: no packet is sent to it. Any non-loopback IPv4 address of the host will do.
    const addrs = (JSON.parse(sh('ip', ['-j', '-4', 'addr', 'show'])) as Array<{ ifname: string; addr_info: Array<{ local: string }> }>)
      .filter((i) => i.ifname !== 'lo')
      .flatMap((i) => i.addr_info.map((a) => a.local));
    expect(addrs.length).toBeGreaterThan(0);
    const a = craft({ manifest: (m) => ((m.params as Record<string, unknown>).ip_address = [addrs[0]]) });
    refused(a, 124, 78, /the host|host.s/);
  });

  it('an internal key or an unknown key: refused', () => {
    refused(craft({ manifest: (m) => ((m.params as Record<string, unknown>)._init = ['/bin/sh', '-c', `touch ${path.join(n.dir, 'INJECTED-init')}`]) }), 115, 21, /params\._init: internal keys are not taken from an archive/);
    refused(craft({ manifest: (m) => ((m.params as Record<string, unknown>)._init_type = 'systemd') }), 116, 21, /params\._init_type: internal keys/);
    refused(craft({ manifest: (m) => ((m.params as Record<string, unknown>).evil = 'x') }), 117, 21, /params\.evil: unknown parameter/);
    refused(craft({ manifest: (m) => ((m.params as Record<string, unknown>).userpasswd = ['root:x']) }), 118, 21, /params\.userpasswd: not a stored parameter/);
    refused(craft({ manifest: (m) => (m.hook = '/bin/sh') }), 119, 21, /vzdump\.yaml: hook: unknown field/);
  });

  it('devnodes of a host block device and capability sys_module:on: dropped with a warning, kept with --trust-archive', () => {
    const dev = ['vda', 'sda', 'nvme0n1', 'loop0'].find((d) => fs.existsSync(`/dev/${d}`) && fs.statSync(`/dev/${d}`).isBlockDevice())!;
    const a = craft({
      manifest: (m) => Object.assign(m.params as object, { devnodes: { [dev]: 'rw' }, capability: { sys_module: 'on', net_admin: 'on', sys_time: 'off' } }),
    });
    const r = tool('vzrestore', a, '120');
    expect(r.code).toBe(0);
    const warn = r.stderr.trim().split('\n');
    expect(warn).toHaveLength(1);
    expect(warn[0]).toMatch(new RegExp(`warning: CT 120: not taken from the archive: devnodes ${dev}:rw; capability sys_module:on \\(vzrestore --trust-archive keeps them\\)`));
    const p = storedParams(120);
    expect(p.devnodes).toBeUndefined();
    // Default-on and turning-off entries are no widening: kept.
    expect(p.capability).toEqual({ net_admin: 'on', sys_time: 'off' });
    const t = tool('vzrestore', a, '121', '--trust-archive');
    expect(t.code).toBe(0);
    expect(t.stderr).toBe('');
    expect(storedParams(121)).toMatchObject({ devnodes: { [dev]: 'rw' }, capability: { sys_module: 'on', net_admin: 'on', sys_time: 'off' } });
    n.ok('destroy', '120');
    n.ok('destroy', '121');
  });

  it('a bridge from an archive is left out unless trusted; host interface names are made for the new CTID', () => {
    const a = craft({ manifest: (m) => ((m.params as Record<string, unknown>).netif = [netif({ bridge: `${n.node}br`, ip: ['198.18.7.1/24'], gateway: '198.18.7.254' })]) });
    const r = tool('vzrestore', a, '122');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`not taken from the archive: bridge ${n.node}br of eth0 `));
    expect(storedParams(122).netif).toEqual([{ ...netif({ ip: ['198.18.7.1/24'], gateway: '198.18.7.254' }), host_ifname: `${n.node}-122.0` }]);
    n.ok('destroy', '122'); // its address is free again
    expect(tool('vzrestore', a, '123', '--trust-archive').code).toBe(0);
    expect((storedParams(123).netif as Array<Record<string, unknown>>)[0]).toMatchObject({ bridge: `${n.node}br`, host_ifname: `${n.node}-123.0` });
    n.ok('destroy', '123');
  });

  it('checkpoint/ with a 0666 device node or a setuid-root file: refused, nothing in the dump dir, no record', () => {
    const withCheckpoint = (add: (cp: string) => void) =>
      craft({
        // Its own uid slot and suspended state, as the old restore would have left it.
        manifest: (m) => Object.assign(m, { checkpoint: true, uid_base: nextBase() }),
        extra: (stage) => {
          const cp = path.join(stage, 'checkpoint');
          fs.mkdirSync(cp);
          fs.writeFileSync(path.join(cp, 'inventory.img'), 'x');
          add(cp);
          return ['checkpoint'];
        },
      });
    const dev = withCheckpoint((cp) => {
      sh('mknod', ['-m', '0666', path.join(cp, 'null'), 'c', '1', '3']);
    });
    refused(dev, 130, 21, /refused: checkpoint\/null: a character device is not allowed in a checkpoint/);
    refused(dev, 133, 21, /checkpoint\/null: a character device/, ['--trust-archive']);
    const suid = withCheckpoint((cp) => {
      fs.copyFileSync('/bin/true', path.join(cp, 'core-1.img'));
      fs.chmodSync(path.join(cp, 'core-1.img'), 0o4755);
    });
    refused(suid, 134, 21, /refused: checkpoint\/core-1\.img: setuid, setgid or sticky bits/, ['--trust-archive']);
    const owner = withCheckpoint((cp) => fs.chownSync(path.join(cp, 'inventory.img'), 1000, 1000));
    refused(owner, 135, 21, /checkpoint\/inventory\.img: owned by 1000:1000, not by the container's root/, ['--trust-archive']);
  });

  it('a clean checkpoint from an untrusted archive is not resumed: the container boots afresh', () => {
    const a = craft({
      manifest: (m) => Object.assign(m, { checkpoint: true, uid_base: nextBase() }),
      extra: (stage) => {
        fs.mkdirSync(path.join(stage, 'checkpoint'));
        fs.writeFileSync(path.join(stage, 'checkpoint', 'inventory.img'), 'x', { mode: 0o600 });
        return ['checkpoint'];
      },
    });
    const r = tool('vzrestore', a, '131');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/not taken from the archive: its CRIU checkpoint \(the container boots afresh\)/);
    expect(n.ok('status', '131')).toMatch(/down/);
    expect(fs.existsSync(path.join(n.root, 'dump', '131'))).toBe(false);
    n.ok('destroy', '131');
    // Trusted: extracted as the container's root, then root's 0600 files, the container suspended.
    const b = craft({
      manifest: (m) => Object.assign(m, { checkpoint: true, uid_base: nextBase() }),
      extra: (stage) => {
        fs.mkdirSync(path.join(stage, 'checkpoint'));
        fs.writeFileSync(path.join(stage, 'checkpoint', 'inventory.img'), 'x', { mode: 0o644 });
        return ['checkpoint'];
      },
    });
    const t = tool('vzrestore', b, '132', '--trust-archive');
    expect(t.code).toBe(0);
    expect(n.ok('status', '132')).toMatch(/suspended/);
    const st = fs.statSync(path.join(n.root, 'dump', '132', 'inventory.img'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o600]);
    fs.rmSync(path.join(n.root, 'dump', '132'), { recursive: true });
    n.ok('destroy', '132');
  });

  it('a YAML alias bomb in the manifest fails at once in one line; another command on the node is not held up', async () => {
    // 10^10 values once expanded, 600 bytes written: unknown keys the old restore stored as JSON.
    let bomb = '  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
    for (let i = 1; i <= 9; i++) bomb += `  a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    const a = craft({ text: (t) => t.replace(/^params:\n/m, `params:\n${bomb}`) });
    const before = hostState();
    const started = Date.now();
    const p = spawn(path.join(REPO, 'dist', 'vzrestore'), [a, '140'], { env: n.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number>((resolve) => p.once('exit', (code) => resolve(code ?? 128)));
    // While it runs (the old restore was encoding the bomb inside a write transaction by now)
    // or right after, a change to another container goes through.
    await new Promise((r) => setTimeout(r, 1500));
    const set = n.vzctl('set', '101', '--description', 'not blocked', '--save');
    const done = await Promise.race([exited, new Promise<number>((r) => setTimeout(() => r(-1), 15_000))]);
    if (done === -1) p.kill('SIGKILL');
    expect({ code: set.code, stderr: set.stderr }).toEqual({ code: 0, stderr: '' });
    expect({ done, stderr }).toMatchObject({ done: 21 });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stderr).toMatch(/vzdump\.yaml: more than 100000 values once its aliases are expanded/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(hostState()).toEqual(before);
    expect(n.ok('status', '140')).toMatch(/deleted/);
    expect(fs.existsSync(path.join(n.root, 'private', '140'))).toBe(false);
  }, 60_000);

  it('a stored bridge with a newline (written by an old vzrestore) is refused where it is used: start runs nothing', () => {
    const d = new Database(path.join(n.root, 'vzkit.db'));
    const bad = netif({ bridge: injected(`${n.node}b type bridge`, `link add ${n.node}c`) });
    d.prepare("INSERT INTO params (ctid, key, value) VALUES (101, 'netif', ?)").run(JSON.stringify([bad]));
    d.close();
    const before = hostState();
    const r = n.vzctl('start', '101');
    try {
      expect(hostState()).toEqual(before);
      expect(r.code).toBe(21);
      expect(r.stderr).toMatch(/CT 101: stored interface config refused: invalid bridge name/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(n.ok('status', '101')).toMatch(/exist unmounted down/);
    } finally {
      n.vzctl('stop', '101');
      const w = new Database(path.join(n.root, 'vzkit.db'));
      w.prepare("DELETE FROM params WHERE ctid = 101 AND key = 'netif'").run();
      w.close();
    }
  });

  /**
   * Archives authenticated by the node's backup key (ARCHIVE.auth): the node's own vzdump of a
   * container with a host device node and sys_module is trusted without --trust-archive; the same
   * archive edited (its .sha256 written anew, its .auth kept: the attacker's move), renamed, or
   * restored on a node with another key is not. A node that shares the key (backup_key) trusts it.
   */
  describe('archives authenticated by the node backup key', () => {
    let own: string; // the node's own vzdump of CT 102 (devnodes, sys_module:on)
    let dev: string;
    const authLine = /^vzkit-archive-auth v1 [0-9a-f]{64}\n$/;
    const others: TestNode[] = [];

    beforeAll(() => {
      dev = ['vda', 'sda', 'nvme0n1', 'loop0'].find((d) => fs.existsSync(`/dev/${d}`) && fs.statSync(`/dev/${d}`).isBlockDevice())!;
      n.ok('create', '102', '--ostemplate', 'busybox', '--hostname', 'web2');
      n.ok('set', '102', '--devnodes', `${dev}:rw`, '--capability', 'sys_module:on', '--save');
      const dumps = path.join(n.dir, 'own-dumps');
      fs.mkdirSync(dumps);
      const r = tool('vzdump', '--dumpdir', dumps, '102');
      if (r.code !== 0) throw new Error(r.stderr);
      own = path.join(dumps, fs.readdirSync(dumps).find((f) => f.endsWith('.tar.zst'))!);
    });
    afterAll(() => {
      for (const o of others) o.cleanup();
    });
    const json = (r: { stdout: string }) => JSON.parse(r.stdout) as { authenticated: boolean; dropped: string[] };

    it("the node's own archive: trusted without --trust-archive, one line says so, --json says authenticated", () => {
      expect(fs.readFileSync(`${own}.auth`, 'utf8')).toMatch(authLine);
      expect(fs.statSync(path.join(n.root, 'backup.key')).mode & 0o7777).toBe(0o600);
      expect(fs.statSync(path.join(n.root, 'backup.key')).size).toBe(32);
      const r = tool('vzrestore', own, '160');
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(/vzdump-102-.*\.tar\.zst is authenticated by this node's backup key: trusted/);
      expect(storedParams(160)).toMatchObject({ devnodes: { [dev]: 'rw' }, capability: { sys_module: 'on' } });
      const j = tool('vzrestore', own, '161', '--json');
      expect({ code: j.code, stderr: j.stderr }).toEqual({ code: 0, stderr: '' });
      expect(json(j)).toMatchObject({ authenticated: true, dropped: [] });
      expect(storedParams(161)).toMatchObject({ devnodes: { [dev]: 'rw' } });
      n.ok('destroy', '160');
      n.ok('destroy', '161');
    });

    it('the manifest edited and .sha256 written anew, .auth kept: untrusted, a clear warning, privileged params left out', () => {
      const a = craft({ from: own, manifest: (m) => ((m.params as Record<string, unknown>).hostname = 'edited') });
      fs.copyFileSync(`${own}.auth`, `${a}.auth`);
      const r = tool('vzrestore', a, '162');
      expect(r.code).toBe(0);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/warning: CT 162: .*\.auth does not verify: it does not match this node's backup key: .*; the archive is treated as untrusted$/);
      expect(lines[1]).toMatch(new RegExp(`not taken from the archive: devnodes ${dev}:rw; capability sys_module:on`));
      expect(r.stdout).not.toMatch(/authenticated/);
      expect(storedParams(162).devnodes).toBeUndefined();
      expect(storedParams(162).hostname).toBe('edited'); // the checks of an untrusted archive, nothing else
      // The same bytes under another name (another time: what retention and the admin go by), .auth moved along.
      const renamed = path.join(path.dirname(a), path.basename(own).replace(/_(\d\d)\.tar\.zst$/, (_m, s) => `_${String((Number(s) + 1) % 60).padStart(2, '0')}.tar.zst`));
      expect(path.basename(renamed)).not.toBe(path.basename(own));
      fs.copyFileSync(own, renamed);
      fs.writeFileSync(`${renamed}.sha256`, `${sha(renamed)}  ${path.basename(renamed)}\n`);
      fs.copyFileSync(`${own}.auth`, `${renamed}.auth`);
      const j = tool('vzrestore', renamed, '163', '--json');
      expect(j.code).toBe(0);
      expect(json(j)).toMatchObject({ authenticated: false, dropped: [`devnodes ${dev}:rw`, 'capability sys_module:on'] });
      expect(storedParams(163).devnodes).toBeUndefined();
      // --trust-archive still forces trust (and still says the authenticator does not verify).
      const t = tool('vzrestore', a, '164', '--trust-archive');
      expect(t.code).toBe(0);
      expect(t.stderr).toMatch(/\.auth does not verify: .*; trusted anyway \(--trust-archive\)/);
      expect(storedParams(164)).toMatchObject({ devnodes: { [dev]: 'rw' } });
      for (const c of ['162', '163', '164']) n.ok('destroy', c);
    });

    it('an archive written to while it is restored (after its hash and authenticator were checked): refused, nothing left', async () => {
      const d = path.join(n.dir, 'racing');
      fs.mkdirSync(d);
      const a = path.join(d, path.basename(own));
      for (const ext of ['', '.sha256', '.auth']) fs.copyFileSync(`${own}${ext}`, `${a}${ext}`);
      // Rewritten in place every 20 ms with the same bytes: whatever the reads after the hash saw is not what was vouched for.
      const w = spawn('sh', ['-c', 'while :; do dd if="$1" of="$1" bs=64k count=1 conv=notrunc status=none; sleep 0.02; done', 'sh', a], { stdio: 'ignore' });
      try {
        const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
          const p = spawn(path.join(REPO, 'dist', 'vzrestore'), [a, '165'], { env: n.env, stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          p.stderr!.on('data', (x) => (stderr += String(x)));
          p.once('close', (code) => resolve({ code: code ?? 128, stderr }));
        });
        expect(r.code).toBe(21);
        expect(r.stderr).toMatch(/\.tar\.zst changed while it was restored \(nothing was restored\)$/m);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
      } finally {
        w.kill('SIGKILL');
      }
      expect(n.ok('status', '165')).toMatch(/deleted/);
      expect(fs.existsSync(path.join(n.root, 'private', '165'))).toBe(false);
    });

    it("on another node (its own key, or none) the archive is untrusted; a node whose backup_key is this node's key trusts it", () => {
      const copy = (to: TestNode) => {
        const d = path.join(to.dir, 'copied');
        fs.mkdirSync(d, { recursive: true });
        for (const ext of ['', '.sha256', '.auth']) fs.copyFileSync(`${own}${ext}`, path.join(d, `${path.basename(own)}${ext}`));
        return path.join(d, path.basename(own));
      };
      const other = new TestNode('', { idmapCount: 2 });
      others.push(other);
      const a = copy(other);
      const run = (node: TestNode, ctid: string) => {
        const r = spawnSync(path.join(REPO, 'dist', 'vzrestore'), [a, ctid], { env: node.env, encoding: 'utf8', timeout: 60_000 });
        return { code: r.status, stdout: r.stdout, stderr: r.stderr };
      };
      const dbOf = (node: TestNode, ctid: number) => {
        const d = new Database(path.join(node.root, 'vzkit.db'), { readonly: true });
        try {
          return Object.fromEntries((d.prepare('SELECT key, value FROM params WHERE ctid = ?').all(ctid) as Array<{ key: string; value: string }>).map((x) => [x.key, JSON.parse(x.value)]));
        } finally {
          d.close();
        }
      };
      // No key here yet: untrusted, and a restore makes none.
      const r1 = run(other, '170');
      expect(r1.code).toBe(0);
      expect(r1.stderr).toMatch(/\.auth does not verify: this node has no backup key; the archive is treated as untrusted/);
      expect(r1.stderr).toMatch(/not taken from the archive: devnodes/);
      expect(fs.existsSync(path.join(other.root, 'backup.key'))).toBe(false);
      expect(dbOf(other, 170).devnodes).toBeUndefined();
      // Its own key (as its first vzdump would make it).
      fs.writeFileSync(path.join(other.root, 'backup.key'), randomBytes(32), { mode: 0o600 });
      const r2 = run(other, '171');
      expect(r2.code).toBe(0);
      expect(r2.stderr).toMatch(/\.auth does not verify: it does not match this node's backup key/);
      expect(dbOf(other, 171).devnodes).toBeUndefined();
      // A fleet: backup_key names the same key file.
      const fleet = new TestNode(`backup_key: ${path.join(n.root, 'backup.key')}\n`, { idmapCount: 2 });
      others.push(fleet);
      const r3 = spawnSync(path.join(REPO, 'dist', 'vzrestore'), [copy(fleet), '172'], { env: fleet.env, encoding: 'utf8', timeout: 60_000 });
      expect({ code: r3.status, stderr: r3.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r3.stdout).toMatch(/authenticated by this node's backup key/);
      expect(dbOf(fleet, 172)).toMatchObject({ devnodes: { [dev]: 'rw' } });
    });
  });
});
