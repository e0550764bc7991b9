/**
 * The CRIU driver: where criu is, what a vzkit container needs on `criu dump` and `criu restore`,
 * and the small description (vzkit.json) kept beside the images so a restore, here or on
 * another node, knows the keys the dump used.
 *
 * Choices (README, "Checkpoint and restore"):
 * - The console is an external tty: dumped as `tty[RDEV:DEV]`, given back on restore as a new pty
 *   slave by the monitor (--inherit-fd), bind-mounted on /dev/console (external mount "console").
 * - The host nodes bound into /dev, vzkit's private device nodes and the LXCFS files are
 *   external mounts: restored as binds of this node's same files.
 * - The network namespace is restored empty (--empty-ns net) and configured by vzkit's own
 *   plan from the action script at "setup-namespaces": CRIU cannot create a veth whose peer is in
 *   the host namespace from inside the container's user namespace (netlink EPERM), and the
 *   host side must be this node's anyway. Sockets are restored after that, into the addresses.
 * - Cgroups: dumped (--manage-cgroups=soft) and restored with --manage-cgroups=soft and
 *   --cgroup-root /NODE/CTID of the restoring node, so the tasks land in that node's container
 *   cgroups, in the sub-cgroups they were in (systemd's units). The container's own cgroup2
 *   tree, empty slices included, is recorded at dump time (CRIU keeps only the populated part
 *   and what lies below the root task's cgroup, which for systemd is init.scope) and made again,
 *   owned by the container's root, before criu restore: systemd's inotify watches on
 *   cgroup.events need the files, and systemd must be able to manage its delegated subtree.
 *   Existing cgroups keep their properties (soft): the container's limits are this node's.
 * - The cgroup2 mount (/sys/fs/cgroup inside) is an external mount: CRIU cannot mount cgroup2
 *   again from inside the restored user namespace; this node's container cgroup is bound there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { childProcess } from '../sys/childproc.js';
import { parseMountinfo } from '../sys/mounts.js';
import { readSmallFile } from '../sys/smallfile.js';
import { VzError } from '../base/errors.js';
import { delegateDirs } from '../cgroup/delegate.js';

export const CRIU_DEFAULT = '/opt/vzkit/criu/sbin/criu';

/** The criu binary: $VZKIT_CRIU, else the set-up's prefix, else Debian's. */
export function criuPath(): string {
  const c = process.env.VZKIT_CRIU ?? (fs.existsSync(CRIU_DEFAULT) ? CRIU_DEFAULT : '/usr/sbin/criu');
  if (!fs.existsSync(c)) {
    throw new VzError('UNSUPPORTED', `CRIU is not installed (${c})`, { hint: 'run sh scripts/setup.sh as root (scripts/criu.sh)' });
  }
  return c;
}

export function criuVersion(criu = criuPath()): string {
  const r = childProcess().spawnSync(criu, ['--version'], { encoding: 'utf8' });
  return /Version:\s*(\S+)/.exec(r.stdout ?? '')?.[1] ?? 'unknown';
}

/**
 * Whether this node's CRIU has a vzkit patch, probed as `criu check --feature NAME`. A probe costs
 * 0.1-0.3 s (criu check reads the kernel's features), too much for every vzctl exec: the answer
 * is kept in cacheDir (file criu-feature-NAME), keyed by the binary's path, size and mtime, so a
 * rebuilt or replaced CRIU is asked again. No CRIU: false.
 */
function criuHasFeature(cacheDir: string, feature: 'nested_uts_ipc' | 'psi_trigger'): boolean {
  let criu: string;
  let st: fs.Stats;
  try {
    criu = criuPath();
    st = fs.statSync(criu);
  } catch {
    return false; // no CRIU: nothing is checkpointed here
  }
  const key = `${criu} ${st.size} ${st.mtimeMs}`;
  const file = path.join(cacheDir, `criu-feature-${feature}`);
  try {
    const [k, v] = fs.readFileSync(file, 'utf8').split('\n');
    if (k === key) return v === 'yes';
  } catch {
    // not probed yet
  }
  const r = childProcess().spawnSync(criu, ['check', '--feature', feature], { encoding: 'utf8', timeout: 10_000 });
  const has = r.status === 0;
  try {
    fs.mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
    const tmp = `${file}.${process.pid}`;
    fs.writeFileSync(tmp, `${key}\n${has ? 'yes' : 'no'}\n`, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch {
    // asked again next time
  }
  return has;
}

/**
 * The namespace kinds this CRIU dumps and restores nested beyond upstream's mount and network:
 * ["uts", "ipc"] with vzkit's patch (scripts/criu-patches/0003-nested-uts-ipc.patch, probed as
 * `criu check --feature nested_uts_ipc`), else none. The container's seccomp policy then leaves
 * them allowed (native/harden.h).
 */
export function criuNestedKinds(cacheDir: string): string[] {
  return criuHasFeature(cacheDir, 'nested_uts_ipc') ? ['uts', 'ipc'] : [];
}

/**
 * Whether this CRIU sets PSI triggers again at restore (scripts/criu-patches/0015-psi-trigger-restore
 * .patch, `criu check --feature psi_trigger`): then a systemd container is shown /proc/pressure and
 * keeps its memory-pressure watch across suspend/resume and migration; without it the watch stays off.
 */
export function criuRestoresPsi(cacheDir: string): boolean {
  return criuHasFeature(cacheDir, 'psi_trigger');
}

/**
 * Whether a process of the container has a pressure file open (a cgroup's *.pressure or
 * /proc/pressure/*): a PSI trigger may be set on it, which only DEST's CRIU with patch 0015 sets
 * again. For vzmigrate's pre-flight; the links of /proc/PID/fd are the kernel's.
 */
export function pressureFilesInUse(pids: number[]): boolean {
  return pids.some((p) => {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${p}/fd`);
    } catch {
      return false; // gone meanwhile
    }
    return fds.some((fd) => {
      try {
        const l = fs.readlinkSync(`/proc/${p}/fd/${fd}`);
        return l.endsWith('.pressure') || l.startsWith('/proc/pressure/');
      } catch {
        return false;
      }
    });
  });
}

/**
 * The nested namespace kinds among criuNestedKinds' ("uts", "ipc") that processes of a container
 * use now: a process whose namespace differs from init's. For vzmigrate's pre-flight (DEST's CRIU
 * must restore them); the links of /proc/PID/ns are the kernel's, a process gone meanwhile is skipped.
 */
export function nestedKindsInUse(initPid: number, pids: number[]): string[] {
  const ns = (pid: number, kind: string) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
    } catch {
      return undefined;
    }
  };
  return ['uts', 'ipc'].filter((kind) => {
    const init = ns(initPid, kind);
    return init !== undefined && pids.some((p) => {
      const own = ns(p, kind);
      return own !== undefined && own !== init;
    });
  });
}

/** Memory tracking (soft-dirty) for iterative pre-dumps; missing on these kernels. */
export function hasDirtyTracking(criu = criuPath()): boolean {
  const r = childProcess().spawnSync(criu, ['check', '--feature', 'mem_dirty_track'], { encoding: 'utf8' });
  return r.status === 0 && !/OFF|not supported/i.test((r.stdout ?? '') + (r.stderr ?? ''));
}

/** One bind mount from the host that the dump leaves out (CRIU "external mount"). */
export interface ExternalMount {
  key: string;
  /** Mount point inside the container. */
  dst: string;
  /** A cgroup2 mount: the path of its root below the container's cgroup ('' = the container's cgroup). */
  cgroup?: string;
}

/** What vzkit writes beside the images (vzkit.json). */
export interface DumpMeta {
  ctid: number;
  node: string;
  criu: string;
  /** "tty[RDEV:DEV]" of the console pty at dump time (hex), the key of --inherit-fd. */
  consoleKey: string;
  mounts: ExternalMount[];
  /** The container's cgroup2 tree at dump time: directories relative to its cgroup, parents first. */
  cgroups?: string[];
  /** Controllers enabled in cgroup.subtree_control, by directory of that tree ('' = the
   * container's cgroup): a v2 systemd enables them for its slices; made again before restore. */
  cgroupControllers?: Record<string, string[]>;
  /** Host pids inside, for the log and the tests. */
  initPid: number;
  at: string;
  /** The monitor intercepted sysinfo(2): the tasks carry its USER_NOTIF filter, whose listeners
   * the restore must take back (criu-patches/0002; sysinfo fails with ENOSYS otherwise).
   * Absent in dumps of older versions: the restoring node's config decides. */
  sysinfo?: boolean;
}

/** Whether the running container's monitor intercepts sysinfo(2): its "<socket>.ctl" exists
 * exactly then (native/protocol.h). */
export function interceptsSysinfo(socket: string): boolean {
  return fs.existsSync(`${socket}.ctl`);
}

/** Whether this criu hands the listeners of restored USER_NOTIF filters over (vzkit's
 * criu-patches/0002): its binary names the variable it reads. Without that, the sysinfo filter
 * of a restored container has no listener and sysinfo(2) fails with ENOSYS. Read in chunks: the
 * binary is a few MiB. */
export function criuRestoresListeners(criu: string): boolean {
  const needle = Buffer.from('CRIU_SECCOMP_LISTENER_FD');
  let fd: number;
  try {
    fd = fs.openSync(criu, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return false;
    const buf = Buffer.alloc(1 << 20);
    let carry = Buffer.alloc(0);
    for (let total = 0; total < 64 << 20; ) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) return false;
      total += n;
      const chunk = Buffer.concat([carry, buf.subarray(0, n)]);
      if (chunk.includes(needle)) return true;
      carry = chunk.subarray(Math.max(0, chunk.length - needle.length));
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

export const META_FILE = 'vzkit.json';

export function readMeta(dir: string): DumpMeta {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, META_FILE), 'utf8')) as DumpMeta;
  } catch (e) {
    throw new VzError('NOT_FOUND', `no vzkit dump in ${dir}: ${(e as Error).message}`);
  }
}

export function writeMeta(dir: string, meta: DumpMeta): void {
  fs.writeFileSync(path.join(dir, META_FILE), JSON.stringify(meta, null, 1) + '\n', { mode: 0o600 });
}

/** A dump's files by name, base64 (what a migration sends with its restore request). */
export function readImages(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    // CRIU's own log stays here: at -v4 it is larger than all the other images together, and
    // it would cross to DEST while the container is frozen.
    if (e.isFile() && !e.name.endsWith('.log')) out[e.name] = fs.readFileSync(path.join(dir, e.name)).toString('base64');
  }
  return out;
}

/** Writes readImages()'s files into dir; names are plain file names, nothing else is accepted. */
export function writeImages(dir: string, images: Record<string, string>): void {
  for (const [name, b64] of Object.entries(images)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new VzError('SYNTAX', `bad image name "${name}"`);
    fs.writeFileSync(path.join(dir, name), Buffer.from(b64, 'base64'), { mode: 0o600 });
  }
}

/**
 * The mounts of init's namespace that come from the host: /dev/console, nodes under /dev, LXCFS,
 * and cgroup2 (cgroupRoot: the container's cgroup path as the host sees it, "/NODE/CTID").
 */
export function externalMounts(initPid: number, cgroupRoot?: string): ExternalMount[] {
  const infos = parseMountinfo(fs.readFileSync(`/proc/${initPid}/mountinfo`, 'utf8'));
  const own = new Set(['/dev', '/dev/pts', '/dev/shm', '/dev/mqueue']);
  const out: ExternalMount[] = [];
  const keys = new Set<string>();
  for (const m of infos) {
    const p = m.mountPoint;
    if (p === '/dev/console') out.push({ key: 'console', dst: p });
    else if (m.fsType === 'fuse.lxcfs' || (p.startsWith('/dev/') && !own.has(p))) out.push({ key: 'vz' + p.replace(/\//g, '_'), dst: p });
    else if (m.fsType === 'cgroup2' && cgroupRoot !== undefined) {
      // The mount's root as the host (node's cgroup namespace) sees it: within the container's cgroup.
      const r = m.root === cgroupRoot ? '' : m.root.startsWith(cgroupRoot + '/') ? m.root.slice(cgroupRoot.length + 1) : undefined;
      if (r === undefined || !validCgroupPath(r)) {
        throw new VzError('CHKPNT', `cannot checkpoint: a cgroup2 mount at ${JSON.stringify(p)} shows ${JSON.stringify(m.root)}, outside the container's cgroup`);
      }
      out.push({ key: 'cgroup' + p.replace(/\//g, '_'), dst: p, cgroup: r });
    } else continue;
    // One key per mount point: a mount stacked on another is dumped as the same external.
    if (keys.has(out.at(-1)!.key)) out.pop();
    else keys.add(out.at(-1)!.key);
  }
  return out;
}

/** A cgroup path below a container's cgroup, from the dump or the container: plain names only. */
export function validCgroupPath(rel: string): boolean {
  if (rel === '') return true;
  if (rel.length > 1024) return false;
  return rel.split('/').every((c) => c !== '' && c !== '.' && c !== '..' && c.length <= 255 && !/[\x00\n]/.test(c));
}

/**
 * The console's key: the pty bound on /dev/console (init's fd 0 may be /dev/null, as systemd
 * sets it). Taken from init's mountinfo, not by stat through /proc/PID/root: the device of the
 * host's devpts and the pty's index (the bind's root "/N"), never a path the container can
 * redirect. tty[RDEV:DEV] in glibc's dev_t encoding, as CRIU writes it.
 */
export function consoleKey(initPid: number): string {
  const infos = parseMountinfo(fs.readFileSync(`/proc/${initPid}/mountinfo`, 'utf8'));
  const m = infos.filter((x) => x.mountPoint === '/dev/console').at(-1);
  const idx = m && m.fsType === 'devpts' && /^\/\d+$/.test(m.root) ? Number(m.root.slice(1)) : undefined;
  const mm = m && /^(\d+):(\d+)$/.exec(m.majorMinor);
  if (idx === undefined || !mm) {
    throw new VzError('CHKPNT', `cannot checkpoint: /dev/console in the container is not the console pty vzkit bound there${m ? ` (${m.fsType} ${m.root})` : ''}`);
  }
  // UNIX98 pty slaves: majors 136..143, 256 minors each.
  const rdev = makedev(136 + (idx >> 8), idx & 0xff);
  const dev = makedev(Number(mm[1]), Number(mm[2]));
  return `tty[${rdev.toString(16)}:${dev.toString(16)}]`;
}

/** glibc's gnu_dev_makedev. */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** Most directories taken from a container's cgroup tree (systemd makes a few dozen). */
export const MAX_CGROUP_DIRS = 4096;

/** The file the dump's action script writes the cgroup tree into, in the dump directory. */
export const CGROUP_TREE_FILE = 'cgroup-tree';
/** Beside it: "REL\0CONTROLLERS\0" per directory, the container's cgroup included (REL ''). */
export const CGROUP_CTL_FILE = 'cgroup-controllers';
const CONTROLLERS = new Set(['cpu', 'cpuset', 'memory', 'pids', 'io', 'hugetlb', 'rdma', 'misc']);

/**
 * Reads the tree the action script recorded ("find -printf '%P\\0'"); undefined if none. After
 * the dump, so it never throws: a name that appeared after the check (prepareDump) and cannot be
 * restored is left out (CRIU makes it again if tasks were in it).
 */
export function readCgroupTree(dir: string): string[] | undefined {
  // Size-capped: the names are the container's (the walk before the dump bounded their number).
  const raw = takeRecorded(dir, CGROUP_TREE_FILE, MAX_CGROUP_DIRS * 1280);
  if (raw === undefined) return undefined;
  return sortTree(raw.split('\0').filter((d) => d !== '' && validCgroupPath(d))).slice(0, MAX_CGROUP_DIRS);
}

/** The container's cgroup2 tree, walked now (no symlinks in a cgroupfs; depth-first, parents first). */
/**
 * The action script that enables the dumped controllers again (cgroup.subtree_control, parents
 * first), or undefined when none were enabled. Not before the restore: CRIU moves the root task
 * into the container's cgroup to make its cgroup namespace there, which v2 refuses (EBUSY) once
 * that cgroup enables controllers ("no internal processes"). So at post-setup-namespaces, once
 * the root task has moved on into its own cgroup (init.scope), and before CRIU restores the
 * inotify watches on files (memory.events...) that exist only with the controllers on.
 */
export function writeControllersHook(file: string, unifiedDir: string, tree: string[], controllers: Record<string, string[]>): string | undefined {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const known = new Set(['', ...tree]);
  const writes: string[] = [];
  for (const rel of ['', ...sortTree(tree)]) {
    const ctl = (controllers[rel] ?? []).filter((c) => CONTROLLERS.has(c));
    if (!known.has(rel) || !validCgroupPath(rel) || !ctl.length) continue;
    writes.push(`printf '%s' ${q(ctl.map((c) => `+${c}`).join(' '))} > ${q(path.join(unifiedDir, rel, 'cgroup.subtree_control'))} || exit 1`);
  }
  if (!controllers['']?.length || !writes.length) return undefined;
  const procs = q(path.join(unifiedDir, 'cgroup.procs'));
  const lines = [
    '#!/bin/sh',
    '[ "$CRTOOLS_SCRIPT_ACTION" = post-setup-namespaces ] || exit 0',
    // cgroupfs files have no size: read them. 10 s at most, then the writes fail with EBUSY.
    `i=0; while [ -n "$(cat ${procs})" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done`,
    ...writes,
    'exit 0',
    '',
  ];
  fs.writeFileSync(file, lines.join('\n'), { mode: 0o700 });
  return file;
}

/** A file the dump's action script wrote beside the images: read once (regular file, no link,
 * size-capped: the names in it are the container's), then removed so it does not go along. */
function takeRecorded(dir: string, name: string, max: number): string | undefined {
  const r = readSmallFile(path.join(dir, name), max);
  fs.rmSync(path.join(dir, name), { force: true });
  return r.ok ? Buffer.from(r.text, 'latin1').toString('utf8') : undefined;
}

/** The controllers the hook recorded (CGROUP_CTL_FILE), checked and size-capped; the file goes. */
export function readCgroupControllers(dir: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const raw = takeRecorded(dir, CGROUP_CTL_FILE, MAX_CGROUP_DIRS * 1400);
  if (raw === undefined) return out;
  const f = raw.split('\0');
  for (let i = 0; i + 1 < f.length && Object.keys(out).length < MAX_CGROUP_DIRS; i += 2) {
    const rel = f[i]!;
    const ctl = f[i + 1]!.split(/\s+/).filter((c) => CONTROLLERS.has(c));
    if (validCgroupPath(rel) && ctl.length) out[rel] = ctl;
  }
  return out;
}

export function walkCgroupTree(root: string): string[] {
  const out: string[] = [];
  let over = false;
  const walk = (rel: string) => {
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(rel ? path.join(root, rel) : root, { withFileTypes: true });
    } catch {
      return; // removed meanwhile
    }
    for (const e of ents) {
      if (!e.isDirectory()) continue;
      if (out.length >= MAX_CGROUP_DIRS) {
        over = true;
        return;
      }
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      walk(r);
    }
  };
  walk('');
  return checkCgroupTree(out, over);
}

function checkCgroupTree(dirs: string[], over = dirs.length > MAX_CGROUP_DIRS): string[] {
  if (over) throw new VzError('CHKPNT', `cannot checkpoint: the container has more than ${MAX_CGROUP_DIRS} cgroups`);
  const bad = dirs.find((d) => d === '' || !validCgroupPath(d));
  if (bad !== undefined) throw new VzError('CHKPNT', `cannot checkpoint: a cgroup inside has a name vzkit does not restore: ${JSON.stringify(bad)}`);
  return sortTree(dirs);
}

/** Parents first, whatever order find gave. */
function sortTree(dirs: string[]): string[] {
  return [...new Set(dirs)].sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : a > b ? 1 : 0));
}

export interface DumpOptions {
  initPid: number;
  dir: string;
  /** Stream pages to a page server at this address instead of writing them into dir. */
  pageServer?: { address: string; port: number };
  leaveRunning?: boolean;
  /** Keep the tasks stopped (SIGSTOP) after the dump: migration kills or thaws them later. */
  leaveStopped?: boolean;
  /** Where a failed dump's log is kept (the dump directory goes); the message names it. */
  keepLog?: string;
  /** An executable CRIU runs at each step (CRTOOLS_SCRIPT_ACTION in its environment). */
  actionScript?: string;
}

/** Arguments of `criu dump` for a vzkit container. */
export function dumpArgs(o: DumpOptions, mounts: ExternalMount[], key: string): string[] {
  const a = ['dump', '-t', String(o.initPid), '-D', o.dir, '-o', 'dump.log', '-v4', '--tcp-established', '--file-locks',
    '--manage-cgroups=soft', '--network-lock', 'nftables', '--external', key];
  for (const m of mounts) a.push('--external', `mnt[${m.dst}]:${m.key}`);
  if (o.pageServer) a.push('--page-server', '--address', o.pageServer.address, '--port', String(o.pageServer.port));
  if (o.leaveRunning) a.push('--leave-running');
  if (o.leaveStopped) a.push('--leave-stopped');
  if (o.actionScript) a.push('--action-script', o.actionScript);
  return a;
}

/**
 * Arguments after `criu restore` chosen by node; the monitor adds the console and detaching.
 * cgroupRoot: this node's container cgroup path ("/NODE/CTID", the same in every hierarchy).
 */
export function restoreArgs(dir: string, root: string, mounts: ExternalMount[], sources: Map<string, string>, hook: string, cgroupRoot: string): string[] {
  const a = ['-D', dir, '-o', 'restore.log', '-v4', '--root', root, '--tcp-established', '--file-locks',
    '--manage-cgroups=soft', '--cgroup-root', cgroupRoot, '--network-lock', 'nftables', '--empty-ns', 'net', '--action-script', hook];
  for (const m of mounts) {
    if (m.key === 'console') continue; // the monitor's new pty
    const src = sources.get(m.dst);
    if (!src) throw new VzError('SYSTEM', `restore: no source on this node for the external mount ${m.dst}`);
    a.push('--external', `mnt[${m.key}]:${src}`);
  }
  return a;
}

/**
 * The restored root task reads images both before its user namespace's ids are in force (host
 * uid 0 without capabilities there: timens-*.img) and after (the container's root: tty-info.img).
 * So the dump stays root's and gets the container's root group: 0750/0640; the caller lets that uid
 * pass the parent (src/core/reach.ts). (Owned by the container's uid alone, the first read fails
 * with EACCES when it wins the race.)
 */
export function giveDumpTo(dir: string, gid: number): void {
  fs.chownSync(dir, 0, gid);
  fs.chmodSync(dir, 0o750);
  for (const f of fs.readdirSync(dir)) {
    fs.lchownSync(path.join(dir, f), 0, gid);
    fs.chmodSync(path.join(dir, f), 0o640);
  }
}

/**
 * Undoes `criu dump --leave-stopped` on the source (a migration that failed after its dump):
 * CRIU left the TCP connections in repair mode and its nftables lock in the container's network
 * namespace. Unrepair and unlock first, then SIGCONT: a task that ran into a socket still in
 * repair mode would see errors and could exit.
 */
export function thawAfterDump(helper: string, initPid: number, pids: number[]): void {
  childProcess().spawnSync(helper, ['tcp-unrepair', ...pids.map(String)], { stdio: 'ignore' });
  const ns = `--net=/proc/${initPid}/ns/net`;
  const tables = childProcess().spawnSync('nsenter', [ns, 'nft', 'list', 'tables'], { encoding: 'utf8' });
  for (const m of (tables.stdout ?? '').matchAll(/^table (\S+) (CRIU-\S+)/gm)) {
    childProcess().spawnSync('nsenter', [ns, 'nft', 'delete', 'table', m[1]!, m[2]!], { stdio: 'ignore' });
  }
  for (const p of pids) {
    try {
      process.kill(p, 'SIGCONT');
    } catch {
      // gone
    }
  }
}

/** The last error lines of a criu log, for messages. */
export function criuLogTail(file: string, n = 3): string {
  try {
    // The cause, not the echoes: CRIU ends every failure with the same generic lines.
    const lines = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /Error|\berror[:\s]/.test(l) && !/RLIMIT_NOFILE|Restoring FAILED|Dumping FAILED|cgroupd: recv req error|Can't wait or bad status/.test(l));
    // nft's complaint when CRIU unlocks a network it never locked (a dump that failed before
    // network-lock) is an echo too, unless it is all there is.
    const nft = (l: string) => /Error: Could not process rule/.test(l);
    const cause = lines.some((l) => !nft(l)) ? lines.filter((l) => !nft(l)) : lines;
    return cause.slice(-n).map((l) => l.replace(/^\([0-9. ]+\)\s*/, '').trim()).join('; ');
  } catch {
    return '';
  }
}

function dumpFailed(o: DumpOptions, status: number | null, stderr: string, ctid: number): VzError {
  let log = path.join(o.dir, 'dump.log');
  const tail = criuLogTail(log) || stderr.trim() || `exit ${status}`;
  if (o.keepLog) {
    try {
      fs.copyFileSync(log, o.keepLog);
      log = o.keepLog;
    } catch {
      // no log written: the message has what there is
    }
  }
  // systemd's service sandboxing (PrivateTmp, ProtectHostname, ...) makes namespaces inside.
  const hint = /nested \w+ namespace/.test(tail)
    ? 'processes inside run in namespaces of their own that CRIU cannot checkpoint (systemd services do with ProtectHostname= and the like when the container runs without vzkit\'s namespace policy: restart it), or stop the container first (offline vzmigrate, vzdump --mode stop)'
    : /PSI trigger/.test(tail)
      ? // scripts/criu-patches/0015: a trigger whose parameters CRIU cannot tell is refused (restored without it, its owner would spin).
        'a process inside watches resource pressure with a PSI trigger CRIU cannot tell (only systemd\'s memory-pressure watches are restored): stop that program, or stop the container first (offline vzmigrate, vzdump --mode stop)'
      : undefined;
  return new VzError('CHKPNT', `criu dump failed: ${tail} (log: ${log})`, { ctid, hint });
}

/** Runs `criu dump`; throws with the log's last errors. */
export function runDump(criu: string, o: DumpOptions, mounts: ExternalMount[], key: string, ctid: number): void {
  const r = childProcess().spawnSync(criu, dumpArgs(o, mounts, key), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw dumpFailed(o, r.status, r.stderr ?? '', ctid);
}

/** runDump without blocking: a migration does its final file sync meanwhile. */
export function runDumpAsync(criu: string, o: DumpOptions, mounts: ExternalMount[], key: string, ctid: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = childProcess().spawn(criu, dumpArgs(o, mounts, key), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.on('data', (d) => (stderr += d));
    c.on('error', (e) => reject(dumpFailed(o, null, e.message, ctid)));
    c.on('close', (code) => (code === 0 ? resolve() : reject(dumpFailed(o, code, stderr, ctid))));
  });
}

/**
 * A CRIU action script for "network-lock": CRIU runs that step after it has stopped every task
 * (collect_pstree) and before it dumps them, so from then on the container's files and cgroups
 * no longer change. It records the container's cgroup2 tree (cgroupDir) into CGROUP_TREE_FILE
 * in treeDir, and first creates `flag` when given (a migration's final sync starts then, and its
 * frozen time counts from the flag's time). Returns the
 * script's path (in dir).
 */
export function writeDumpHook(dir: string, o: { flag?: string; cgroupDir?: string; treeDir?: string }): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = ['#!/bin/sh', '[ "$CRTOOLS_SCRIPT_ACTION" = network-lock ] || exit 0'];
  // First: the flag's time is the freeze's (a migration's frozen time counts from it).
  if (o.flag) lines.push(`: > ${q(o.flag)}`);
  if (o.cgroupDir && o.treeDir) {
    lines.push(`/usr/bin/find ${q(o.cgroupDir)} -mindepth 1 -type d -printf '%P\\0' > ${q(path.join(o.treeDir, CGROUP_TREE_FILE))} || exit 1`);
    // The controllers each directory enables for its children (v2: systemd's slices), while stopped.
    lines.push(
      `/usr/bin/find ${q(o.cgroupDir)} -type d -exec /bin/sh -c 'for d do r=\${d#"$0"}; printf "%s\\0%s\\0" "\${r#/}" "$(cat "$d/cgroup.subtree_control")"; done' ${q(o.cgroupDir)} {} + > ${q(path.join(o.treeDir, CGROUP_CTL_FILE))} || exit 1`,
    );
  }
  lines.push('exit 0', '');
  const script = path.join(dir, 'dump-hook');
  fs.writeFileSync(script, lines.join('\n'), { mode: 0o700 });
  return script;
}

/**
 * Before `criu restore`: the dumped cgroup2 tree made again below this node's container cgroup
 * (unifiedDir) and handed to the container's root (uid), as systemd had it. Level by level,
 * names checked again (the list came with the dump). Returns the directories made.
 */
export function recreateCgroupTree(unifiedDir: string, tree: string[], uid: number): string[] {
  const made: string[] = [];
  const bad = tree.length > MAX_CGROUP_DIRS ? `${tree.length} cgroups` : tree.find((d) => typeof d !== 'string' || d === '' || !validCgroupPath(d));
  if (bad !== undefined) throw new VzError('RESTORE', `the dump's cgroup tree is not restorable: ${JSON.stringify(bad)}`);
  for (const rel of sortTree(tree)) {
    const d = path.join(unifiedDir, rel);
    try {
      fs.mkdirSync(d);
      made.push(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new VzError('RESTORE', `cannot make cgroup ${d}: ${(e as Error).message}`);
    }
  }
  delegateDirs(made, uid, uid);
  // systemd made these inside, as the container's root, which then owned every file in them (the
  // kernel gives a new cgroup's files to its creator): memory.pressure above all, which the
  // restore opens read-write to set the PSI trigger of systemd's memory-pressure watch again.
  // The container's own directory, made by vzkit, keeps its limits the host's (delegateDirs).
  for (const d of made) {
    for (const f of fs.readdirSync(d, { withFileTypes: true })) {
      if (f.isFile()) fs.chownSync(path.join(d, f.name), uid, uid);
    }
  }
  return made;
}

/** True when the dump linked files into the container's tree (link remaps): sync once more. */
export function dumpMadeRemaps(dir: string): boolean {
  try {
    return fs.statSync(path.join(dir, 'remap-fpath.img')).size > 0;
  } catch {
    return false;
  }
}
