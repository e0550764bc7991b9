/**
 * The one way the host reads or writes a file inside a container's tree. The container's root
 * controls every name in there, so:
 * - every path is resolved with openat2(RESOLVE_IN_ROOT): a symlink it planted resolves inside
 *   its root and can never redirect a host read or write (as root) to a host file;
 * - the target is first opened O_PATH (which never opens a device or waits on a FIFO) and must be
 *   a regular file: a FIFO, socket, device or directory is refused in one line naming it;
 * - reads are size-capped before anything is read (a 400 MB /etc/passwd costs nothing);
 * - a replaced file is written to a temporary file in the same directory and renamed over the
 *   old one, keeping its owner and mode: a failure (a full disk, a killed vzctl) leaves the old
 *   content whole, and nothing is ever truncated in place.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { VzError } from '../base/errors.js';
import { openat2, O_PATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV } from './openat2.js';

/**
 * The largest container file vzkit reads: 16 MiB. /etc/passwd, group and shadow of a big shared
 * hosting VPS hold tens of thousands of users at about 60-100 bytes a line (a few MiB), and an
 * authorized_keys file a few hundred keys; 16 MiB leaves room for ten times that, while a read
 * and its parsing stay well under 200 MB of memory.
 */
export const MAX_GUEST_FILE = 16 * 1024 * 1024;

/** noSymlinks: no symlink at all on the way; noXdev: never cross onto another mount (vzdump's own reads). */
export interface ResolveOpts {
  noSymlinks?: boolean;
  noXdev?: boolean;
}

export function openInRoot(root: string, relPath: string, flags: number, mode = 0o644, opts: ResolveOpts = {}): number {
  const dirfd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (opts.noSymlinks ? RESOLVE_NO_SYMLINKS : 0n) | (opts.noXdev ? RESOLVE_NO_XDEV : 0n);
    return openat2(dirfd, relPath, { flags, mode: flags & fs.constants.O_CREAT ? mode : 0, resolve }, path.join(root, relPath));
  } finally {
    fs.closeSync(dirfd);
  }
}

/** How the container sees the path: /etc/shadow. */
function shown(rel: string): string {
  return '/' + path.posix.normalize(rel).replace(/^(\.\/|\/)+/, '').replace(/^\.$/, '');
}

function kind(st: fs.Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device node';
  if (st.isDirectory()) return 'a directory';
  return 'not a plain file';
}

function notRegular(rel: string, st: fs.Stats, what: string): VzError {
  return new VzError('SYSTEM', `${shown(rel)} in the container is ${kind(st)}, not a regular file: not ${what}`, {
    hint: 'the container owns its files; make it a regular file inside the container and retry',
  });
}

/** Errors of the path walk, as one line about the container's path. */
function pathError(e: unknown, rel: string, what: string): unknown {
  if (e instanceof VzError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new VzError('NO_SPACE', `${shown(rel)} in the container not ${what}: the container's disk is full (${code})`, { cause: e });
  }
  return new VzError('SYSTEM', `${shown(rel)} in the container not ${what}: ${code ?? (e as Error).message}`, { cause: e });
}

/** An O_PATH handle on `rel` (symlinks followed inside the root) and its stat; undefined if missing. */
function locate(root: string, rel: string): { fd: number; st: fs.Stats } | undefined {
  let fd: number;
  try {
    fd = openInRoot(root, rel, O_PATH);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return { fd, st: fs.fstatSync(fd) };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Reads a regular file of at most `max` bytes from an O_PATH handle, reopened through /proc. */
function readCapped(pathFd: number, rel: string, max: number): Buffer {
  // Reopening the O_PATH fd opens exactly the inode that was checked: it cannot become a FIFO.
  const fd = fs.openSync(`/proc/self/fd/${pathFd}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const b = Buffer.allocUnsafe(Math.min(1 << 20, max + 1 - total));
      const n = fs.readSync(fd, b, 0, b.length, null);
      if (n === 0) break;
      chunks.push(b.subarray(0, n));
      total += n;
      if (total > max) throw tooBig(rel, max); // it grew after the stat
    }
    return Buffer.concat(chunks, total);
  } finally {
    fs.closeSync(fd);
  }
}

function tooBig(rel: string, max: number): VzError {
  return new VzError('SYSTEM', `${shown(rel)} in the container is larger than ${max / 1024 / 1024} MiB: not read`, {
    hint: 'vzkit reads container files only up to that size; shrink the file inside the container',
  });
}

/** A container file's content (UTF-8); undefined when it does not exist. */
export function readFileInRoot(root: string, relPath: string, opts: { max?: number } = {}): string | undefined {
  const max = opts.max ?? MAX_GUEST_FILE;
  let h: ReturnType<typeof locate>;
  try {
    h = locate(root, relPath);
  } catch (e) {
    throw pathError(e, relPath, 'read');
  }
  if (!h) return undefined;
  try {
    if (!h.st.isFile()) throw notRegular(relPath, h.st, 'read');
    if (h.st.size > max) throw tooBig(relPath, max);
    return readCapped(h.fd, relPath, max).toString('utf8');
  } catch (e) {
    throw pathError(e, relPath, 'read');
  } finally {
    fs.closeSync(h.fd);
  }
}

/** Stat of a container file (symlinks followed inside the root); undefined when it does not exist. */
export function statInRoot(root: string, relPath: string): fs.Stats | undefined {
  const h = locate(root, relPath);
  if (!h) return undefined;
  fs.closeSync(h.fd);
  return h.st;
}

function writeAll(fd: number, data: Buffer): void {
  for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off);
}

/**
 * Replaces the content of a file inside the container root. An existing file keeps its owner
 * and mode (setuid/setgid bits dropped); a new one gets `mode`, `uid` and `gid`. The new content
 * goes to a temporary file next to the target and is renamed over it, so a failure at any point
 * leaves the old content; a target that is a symlink inside the root is replaced where it points.
 */
export function writeFileInRoot(
  root: string,
  relPath: string,
  content: string,
  opts: { mode?: number; uid?: number; gid?: number } = {},
): void {
  let created = false;
  let dirFd: number | undefined;
  let tmp: string | undefined;
  let h: ReturnType<typeof locate>;
  try {
    h = locate(root, relPath);
    if (!h) {
      // As a shell's `>` would: a dangling link is followed (inside the root) and its target made.
      // O_NONBLOCK: a FIFO made there meanwhile gives ENXIO instead of blocking.
      const fd = openInRoot(root, relPath, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY, 0o600);
      fs.closeSync(fd);
      created = true;
      h = locate(root, relPath);
      if (!h) throw Object.assign(new Error('vanished'), { code: 'ENOENT' });
    }
  } catch (e) {
    throw pathError(e, relPath, 'written');
  }
  const { st } = h;
  try {
    if (!st.isFile()) throw notRegular(relPath, st, 'written');
    // Where the file really is (links resolved), as a path inside the root.
    const real = fs.readlinkSync(`/proc/self/fd/${h.fd}`);
    const top = fs.realpathSync(root);
    if (!real.startsWith(top + '/')) throw new VzError('SYSTEM', `${shown(relPath)} in the container is not inside its root: not written`);
    const inside = real.slice(top.length + 1);
    const name = path.posix.basename(inside);
    dirFd = openInRoot(root, path.posix.dirname(inside), O_PATH | fs.constants.O_DIRECTORY, 0, { noSymlinks: true });
    const dir = `/proc/self/fd/${dirFd}`;
    const now = fs.lstatSync(`${dir}/${name}`);
    if (now.ino !== st.ino || now.dev !== st.dev) throw new VzError('SYSTEM', `${shown(relPath)} in the container changed while being written: not written`);
    const tmpName = `${dir}/.${name.slice(0, 200)}.vzkit-${randomBytes(6).toString('hex')}`;
    const fd = fs.openSync(tmpName, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK, 0o600);
    tmp = tmpName;
    try {
      writeAll(fd, Buffer.from(content, 'utf8'));
      const uid = created ? (opts.uid ?? st.uid) : st.uid;
      const gid = created ? (opts.gid ?? st.gid) : st.gid;
      fs.fchownSync(fd, uid, gid);
      fs.fchmodSync(fd, created ? (opts.mode ?? 0o644) : st.mode & 0o1777);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, `${dir}/${name}`);
    tmp = undefined;
    created = false;
  } catch (e) {
    throw pathError(e, relPath, 'written');
  } finally {
    if (tmp) fs.rmSync(tmp, { force: true });
    if (created && dirFd !== undefined) {
      // The empty file this call made: not left behind by a failed write.
      try {
        const gone = fs.readlinkSync(`/proc/self/fd/${h.fd}`);
        const top = fs.realpathSync(root);
        if (gone.startsWith(top + '/')) fs.rmSync(`/proc/self/fd/${dirFd}/${path.posix.basename(gone)}`, { force: true });
      } catch {
        // best effort
      }
    }
    if (dirFd !== undefined) fs.closeSync(dirFd);
    fs.closeSync(h.fd);
  }
}

/** Removes a file the host made inside the container (an undo); a missing one is fine. */
export function removeFileInRoot(root: string, relPath: string): void {
  const dirFd = openInRoot(root, path.posix.dirname(relPath), O_PATH | fs.constants.O_DIRECTORY);
  try {
    fs.rmSync(`/proc/self/fd/${dirFd}/${path.posix.basename(relPath)}`, { force: true });
  } finally {
    fs.closeSync(dirFd);
  }
}
