// The two sides of the comparison: a private vzkit node and a private LXC path, both under one
// temp dir, and the cleanup that removes everything either of them made.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, runAsync, pool } from './lib.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CG = '/sys/fs/cgroup';

/** rmdir a cgroup dir and its sub-cgroups, deepest first; ignores what is busy or gone. */
export function rmCgroupTree(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) rmCgroupTree(path.join(dir, e.name));
  try {
    fs.rmdirSync(dir);
  } catch {}
}

const hierarchies = () => fs.readdirSync(CG).map((h) => path.join(CG, h)).filter((h) => !fs.lstatSync(h).isSymbolicLink());

function killPid(pid) {
  try {
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {}
}

/** A vzkit node of its own: VZKIT_CONFIG in a temp dir, its own node name and uid pool. */
export class VzSide {
  /**
   * templateCache: a shared template_cache to create from (the Debian caches the tests keep), so
   * that nothing is built; without it the node builds its busybox cache under its own root.
   */
  constructor(dir, { idmapBase = 3000000, idmapCount = 64, templateCache } = {}) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true });
    this.root = path.join(dir, 'root');
    this.node = 'bn' + Math.random().toString(36).slice(2, 6).padEnd(4, '0');
    this.configFile = path.join(dir, 'vzkit.yaml');
    const cache = templateCache ? `template_cache: ${templateCache}\n` : '';
    fs.writeFileSync(this.configFile, `root: ${this.root}\nnode: ${this.node}\nidmap: {base: ${idmapBase}, count: ${idmapCount}}\n${cache}`);
    this.env = { ...process.env, VZKIT_CONFIG: this.configFile };
    this.vzctlBin = path.join(REPO, 'dist', 'vzctl');
    this.vzlistBin = path.join(REPO, 'dist', 'vzlist');
    this.created = new Set();
  }

  vzctl(...args) {
    return run(this.vzctlBin, args, { env: this.env });
  }

  vzctlAsync(...args) {
    return runAsync(this.vzctlBin, args, { env: this.env });
  }

  create(ctid, template = 'busybox') {
    this.created.add(ctid);
    // Like for like with the LXC peer, which sets no limits (vzkit's default profile has some);
    // the limits section sets its own on top.
    this.vzctl('create', String(ctid), '--ostemplate', template, '--config', 'unlimited', '-q');
  }

  /** ctid -> uid_base of every container on the node. */
  uidBases() {
    const out = run(this.vzlistBin, ['-a', '-j', '-o', 'ctid,uid_base'], { env: this.env }).stdout;
    return new Map(JSON.parse(out).map((c) => [Number(c.ctid), Number(c.uid_base)]));
  }

  privateDir(ctid) {
    return path.join(this.root, 'private', String(ctid));
  }

  /** [monitor (ctspawn) pid, init pid] of a running container. */
  pids(ctid) {
    return fs.readFileSync(path.join(this.root, 'run', `${ctid}.pid`), 'utf8').trim().split(/\s+/).map(Number);
  }

  async cleanup(log) {
    const env = this.env;
    let ids = [...this.created];
    const listed = run(this.vzlistBin, ['-a', '-H', '-1'], { env, allowFail: true, always: true });
    if (listed.code === 0) ids = [...new Set([...ids, ...listed.stdout.split(/\s+/).filter(Boolean).map(Number)])];
    await pool(ids, 8, async (id) => {
      await runAsync(this.vzctlBin, ['stop', String(id), '--fast', '-q'], { env, always: true });
      const r = await runAsync(this.vzctlBin, ['destroy', String(id), '-q'], { env, always: true });
      if (r.code !== 0 && fs.existsSync(this.privateDir(id))) log(`vzctl destroy ${id} failed: ${r.out.trim()}`);
    });
    // Whatever the commands left: monitors and inits, mounts, the node's cgroups.
    const runDir = path.join(this.root, 'run');
    if (fs.existsSync(runDir)) {
      for (const f of fs.readdirSync(runDir).filter((f) => f.endsWith('.pid'))) {
        log(`leftover ${f}: killing its processes`);
        fs.readFileSync(path.join(runDir, f), 'utf8').trim().split(/\s+/).map(Number).forEach(killPid);
      }
    }
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4])
      .filter((m) => m && m.startsWith(this.dir + '/')).sort((a, b) => b.length - a.length);
    for (const m of mounts) {
      log(`leftover mount ${m}`);
      run('umount', ['-l', m], { allowFail: true, always: true });
    }
    for (const h of hierarchies()) rmCgroupTree(path.join(h, this.node));
    const left = hierarchies().filter((h) => fs.existsSync(path.join(h, this.node)));
    if (left.length) log(`could not remove cgroup ${this.node} in ${left.join(' ')}`);
  }
}

/**
 * LXC containers under a private lxcpath. Unprivileged, with the uid map of the vzkit container
 * whose private area they copy. lxc-start runs with a PATH lacking newuidmap/newgidmap, so that
 * root's uid_map is written directly instead of LXC demanding /etc/subuid ranges for root: nobin
 * holds symlinks to every other tool of the host's PATH (the hooks that debian.common.conf pulls
 * in, such as lxcfs's lxc.mount.hook, need readlink, mkdir, sleep...).
 */
export class LxcSide {
  constructor(dir, prefix) {
    this.path = path.join(dir, 'lxc');
    this.prefix = prefix;
    this.nobin = path.join(dir, 'nobin');
    fs.mkdirSync(this.path);
    fs.mkdirSync(this.nobin);
    for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
      let names;
      try {
        names = fs.readdirSync(d);
      } catch {
        continue;
      }
      for (const n of names) {
        if (n === 'newuidmap' || n === 'newgidmap') continue;
        try {
          fs.symlinkSync(path.join(d, n), path.join(this.nobin, n)); // the first in PATH order wins
        } catch {}
      }
    }
    this.startEnv = { ...process.env, PATH: this.nobin };
    this.names = [];
    this.pivotExisted = fs.existsSync(path.join(CG, 'memory', 'lxc.pivot'));
  }

  name(i) {
    return `${this.prefix}-${i}`;
  }

  /**
   * A container named name whose rootfs is a copy of src (already uid-shifted by uidBase).
   * debian: LXC's own Debian configuration (debian.common.conf + debian.userns.conf, with lxcfs's
   * hooks from common.conf.d) instead of the busybox one; systemd gets SIGRTMIN+3 from lxc-stop
   * (LXC picks it when init blocks that signal).
   */
  add(name, src, uidBase, extra = [], { debian = false } = {}) {
    const dir = path.join(this.path, name);
    fs.mkdirSync(dir);
    this.names.push(name);
    run('cp', ['-a', src, path.join(dir, 'rootfs')]);
    fs.chownSync(dir, 0, uidBase);
    fs.chmodSync(dir, 0o750);
    const head = [
      `lxc.uts.name = ${name}`,
      `lxc.rootfs.path = dir:${dir}/rootfs`,
      `lxc.idmap = u 0 ${uidBase} 65536`,
      `lxc.idmap = g 0 ${uidBase} 65536`,
      'lxc.net.0.type = empty',
    ];
    const cfg = debian ? [
      // PEERS.md's working unprivileged Debian 12 systemd settings.
      'lxc.include = /usr/share/lxc/config/debian.common.conf',
      'lxc.include = /usr/share/lxc/config/debian.userns.conf',
      'lxc.arch = linux64',
      'lxc.autodev = 1',
      'lxc.apparmor.profile = unconfined',
      ...head,
    ] : [
      ...head,
      // What lxc-create -t busybox writes, minus its network, plus PEERS.md's working settings.
      'lxc.signal.halt = SIGUSR1',
      'lxc.signal.reboot = SIGTERM',
      'lxc.autodev = 1',
      'lxc.tty.max = 5',
      'lxc.pty.max = 1',
      'lxc.cap.drop = sys_module mac_admin mac_override sys_time',
      'lxc.mount.auto = cgroup:mixed proc:mixed sys:ro',
      'lxc.mount.entry = shm dev/shm tmpfs defaults,create=dir 0 0',
      'lxc.mount.entry = mqueue dev/mqueue mqueue defaults,optional,create=dir 0 0',
    ];
    // A network of its own in `extra` replaces the empty one.
    const base = extra.some((l) => l.startsWith('lxc.net.0.')) ? cfg.filter((l) => !l.startsWith('lxc.net.0.')) : cfg;
    fs.writeFileSync(path.join(dir, 'config'), [...base, ...extra].join('\n') + '\n');
  }

  /** argv of lxc-<tool> on this lxcpath. */
  argv(tool, name, ...rest) {
    return [`/usr/bin/lxc-${tool}`, '-P', this.path, ...(name ? ['-n', name] : []), ...rest];
  }

  /** Shell text for hyperfine (no quoting needed: our paths have no spaces). */
  cmd(tool, name, ...rest) {
    const line = this.argv(tool, name, ...rest).join(' ');
    return tool === 'start' ? `/usr/bin/env PATH=${this.nobin} ${line}` : line;
  }

  lxc(tool, name, ...rest) {
    const [bin, ...args] = this.argv(tool, name, ...rest);
    return run(bin, args, { env: tool === 'start' ? this.startEnv : process.env });
  }

  lxcAsync(tool, name, ...rest) {
    const [bin, ...args] = this.argv(tool, name, ...rest);
    return runAsync(bin, args, { env: tool === 'start' ? this.startEnv : process.env });
  }

  start(name) {
    this.lxc('start', name, '-d');
  }

  initPid(name) {
    return Number(this.lxc('info', name, '-pH').stdout.trim());
  }

  async cleanup(log) {
    await pool(this.names, 8, async (name) => {
      const [bin, ...args] = this.argv('info', name, '-pH');
      const pid = Number((await runAsync(bin, args, { always: true })).out.trim());
      const stop = await runAsync(...splitArgv(this.argv('stop', name, '-k')), { always: true });
      if (stop.code !== 0) killPid(pid); // pid is 0 (no-op) when it was not running
      const r = await runAsync(...splitArgv(this.argv('destroy', name)), { always: true });
      if (r.code !== 0 && fs.existsSync(path.join(this.path, name))) log(`lxc-destroy ${name} failed: ${r.out.trim()}`);
    });
    for (const h of hierarchies()) {
      for (const name of this.names) {
        rmCgroupTree(path.join(h, `lxc.payload.${name}`));
        rmCgroupTree(path.join(h, `lxc.monitor.${name}`));
      }
      if (!this.pivotExisted) rmCgroupTree(path.join(h, 'lxc.pivot'));
    }
  }
}

const splitArgv = ([bin, ...args]) => [bin, args];
