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
 * - Cgroups: --manage-cgroups=ignore. The monitor's criu child is put into the container's
 *   cgroups before it runs, and the restored tasks inherit them (one leaf: sub-cgroups made
 *   inside are not recreated).
 */
import fs from 'node:fs';
import path from 'node:path';
import { childProcess } from '../src/sys/childproc.js';
import { parseMountinfo } from '../src/sys/mounts.js';
import { VzError } from '../src/core/errors.js';

export const CRIU_DEFAULT = '/opt/vzkit/criu/sbin/criu';

/** The criu binary: $VZKIT_CRIU, else the set-up's prefix, else Debian's. */
export function criuPath(): string {
  const c = process.env.VZKIT_CRIU ?? (fs.existsSync(CRIU_DEFAULT) ? CRIU_DEFAULT : '/usr/sbin/criu');
  if (!fs.existsSync(c)) {
    throw new VzError('UNSUPPORTED', `CRIU is not installed (${c})`, { hint: 'run sh native/setup.sh as root (native/criu.sh)' });
  }
  return c;
}

export function criuVersion(criu = criuPath()): string {
  const r = childProcess().spawnSync(criu, ['--version'], { encoding: 'utf8' });
  return /Version:\s*(\S+)/.exec(r.stdout ?? '')?.[1] ?? 'unknown';
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
}

/** What vzkit writes beside the images (vzkit.json). */
export interface DumpMeta {
  ctid: number;
  node: string;
  criu: string;
  /** "tty[RDEV:DEV]" of the console pty at dump time (hex), the key of --inherit-fd. */
  consoleKey: string;
  mounts: ExternalMount[];
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
    if (e.isFile()) out[e.name] = fs.readFileSync(path.join(dir, e.name)).toString('base64');
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

/** The mounts of init's namespace that come from the host: /dev/console, nodes under /dev, LXCFS. */
export function externalMounts(initPid: number): ExternalMount[] {
  const infos = parseMountinfo(fs.readFileSync(`/proc/${initPid}/mountinfo`, 'utf8'));
  const own = new Set(['/dev', '/dev/pts', '/dev/shm', '/dev/mqueue']);
  const out: ExternalMount[] = [];
  for (const m of infos) {
    const p = m.mountPoint;
    if (p === '/dev/console') out.push({ key: 'console', dst: p });
    else if (m.fsType === 'fuse.lxcfs' || (p.startsWith('/dev/') && !own.has(p))) out.push({ key: 'vz' + p.replace(/\//g, '_'), dst: p });
  }
  return out;
}

/** The console's key from init's fd 0 (the pty slave the monitor made). */
export function consoleKey(initPid: number): string {
  const st = fs.statSync(`/proc/${initPid}/fd/0`, { bigint: true });
  return `tty[${st.rdev.toString(16)}:${st.dev.toString(16)}]`;
}

export interface DumpOptions {
  initPid: number;
  dir: string;
  /** Stream pages to a page server at this address instead of writing them into dir. */
  pageServer?: { address: string; port: number };
  leaveRunning?: boolean;
  /** Keep the tasks stopped (SIGSTOP) after the dump: migration kills or thaws them later. */
  leaveStopped?: boolean;
  /** An executable CRIU runs at each step (CRTOOLS_SCRIPT_ACTION in its environment). */
  actionScript?: string;
}

/** Arguments of `criu dump` for a vzkit container. */
export function dumpArgs(o: DumpOptions, mounts: ExternalMount[], key: string): string[] {
  const a = ['dump', '-t', String(o.initPid), '-D', o.dir, '-o', 'dump.log', '-v4', '--tcp-established', '--file-locks',
    '--manage-cgroups=ignore', '--network-lock', 'nftables', '--external', key];
  for (const m of mounts) a.push('--external', `mnt[${m.dst}]:${m.key}`);
  if (o.pageServer) a.push('--page-server', '--address', o.pageServer.address, '--port', String(o.pageServer.port));
  if (o.leaveRunning) a.push('--leave-running');
  if (o.leaveStopped) a.push('--leave-stopped');
  if (o.actionScript) a.push('--action-script', o.actionScript);
  return a;
}

/** Arguments after `criu restore` chosen by node; the monitor adds the console and detaching. */
export function restoreArgs(dir: string, root: string, mounts: ExternalMount[], sources: Map<string, string>, hook: string): string[] {
  const a = ['-D', dir, '-o', 'restore.log', '-v4', '--root', root, '--tcp-established', '--file-locks',
    '--manage-cgroups=ignore', '--network-lock', 'nftables', '--empty-ns', 'net', '--action-script', hook];
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
      .filter((l) => /Error|error/.test(l) && !/RLIMIT_NOFILE|Restoring FAILED|Dumping FAILED|cgroupd: recv req error|Can't wait or bad status/.test(l));
    return lines.slice(-n).map((l) => l.replace(/^\([0-9. ]+\)\s*/, '').trim()).join('; ');
  } catch {
    return '';
  }
}

function dumpFailed(o: DumpOptions, status: number | null, stderr: string, ctid: number): VzError {
  const tail = criuLogTail(path.join(o.dir, 'dump.log')) || stderr.trim() || `exit ${status}`;
  // systemd's service sandboxing (PrivateTmp, ProtectHostname, ...) makes namespaces inside.
  const hint = /nested \w+ namespace/.test(tail)
    ? 'processes inside run in namespaces of their own (systemd services do with PrivateTmp, ProtectHostname and the like), which CRIU cannot checkpoint: stop those services, or stop the container first (offline vzmigrate, vzdump --mode stop)'
    : undefined;
  return new VzError('CHKPNT', `criu dump failed: ${tail} (log: ${path.join(o.dir, 'dump.log')})`, { ctid, hint });
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
 * A CRIU action script that creates `flag` at "network-lock": CRIU runs that step after it has
 * stopped every task (collect_pstree) and before it dumps them, so from then on the container's
 * files no longer change. Returns the script's path (in dir).
 */
export function writeStoppedHook(dir: string, flag: string): string {
  const script = path.join(dir, 'stopped-hook');
  fs.writeFileSync(script, `#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" = network-lock ] && : > '${flag.replace(/'/g, `'\\''`)}'\nexit 0\n`, { mode: 0o700 });
  return script;
}

/** True when the dump linked files into the container's tree (link remaps): sync once more. */
export function dumpMadeRemaps(dir: string): boolean {
  try {
    return fs.statSync(path.join(dir, 'remap-fpath.img')).size > 0;
  } catch {
    return false;
  }
}
