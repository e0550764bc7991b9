/**
 * A read-only idmapped view of a directory (Linux >= 5.12, mount_setattr MOUNT_ATTR_IDMAP): the
 * files keep their owners on disk, and whoever reads through the view (rsync) sees them moved
 * from one uid range to another. A migration copies through it into DEST's uid slot, so nothing
 * is chowned anywhere and the final sync while frozen sends only what changed. (The kernel maps
 * POSIX ACLs too, which a chown walk would not.)
 *
 * The mapping comes from a user namespace: a short-lived `unshare --user` child whose maps this
 * (root) process writes, then opens; the mount keeps its own reference.
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { getLibc, errnoError } from './libc.js';
import { layout, u64, encode } from './struct.js';
import { sleepMs } from './sleep.js';
import { umount } from './mounts.js';

const SYS_open_tree = 428;
const SYS_move_mount = 429;
const SYS_mount_setattr = 442;
const OPEN_TREE_CLONE = 1;
const OPEN_TREE_CLOEXEC = 0o2000000;
const AT_EMPTY_PATH = 0x1000;
const AT_SYMLINK_NOFOLLOW = 0x100;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const MOUNT_ATTR_RDONLY = 0x1;
const MOUNT_ATTR_NOSUID = 0x2;
const MOUNT_ATTR_NODEV = 0x4;
const MOUNT_ATTR_NOEXEC = 0x8;
const MOUNT_ATTR_IDMAP = 0x100000;

/** struct mount_attr (mount_setattr(2)), the fields vzkit sets. */
export const MOUNT_ATTR = layout('mount_attr', '<linux/mount.h>', 32, {
  attrSet: u64('attr_set', 0),
  userns: u64('userns_fd', 24),
});

/** One line of a uid_map: ids first..first+count-1 (on disk) appear as lower..lower+count-1. */
export interface IdExtent {
  first: number;
  lower: number;
  count: number;
}

const LAST_ID = 0xffffffff; // (uid_t)-1 is never an id

/**
 * The map that moves [from, from+size) to [to, to+size). When the two ranges are apart, the rest
 * of the id space stays where it is (and [to, ...) goes to [from, ...): the lower ranges of a map
 * may not overlap), so an owner outside the container's range (none, normally) is kept. When they
 * overlap (nodes whose pools are not aligned), only the range is mapped; anything else would show
 * as the overflow id 65534.
 */
export function shiftMap(from: number, to: number, size: number): IdExtent[] {
  const main: IdExtent = { first: from, lower: to, count: size };
  if (from === to) return [{ first: 0, lower: 0, count: LAST_ID }];
  if (from < to + size && to < from + size) return [main];
  const [lo, hi] = from < to ? [from, to] : [to, from];
  const out: IdExtent[] = [main, { first: to, lower: from, count: size }];
  for (const [a, b] of [
    [0, lo],
    [lo + size, hi],
    [hi + size, LAST_ID],
  ] as const) {
    if (b > a) out.push({ first: a, lower: a, count: b - a });
  }
  return out;
}

/** A user namespace with these maps, as an open fd (the caller closes it). */
function usernsWith(map: IdExtent[]): number {
  const text = map.map((e) => `${e.first} ${e.lower} ${e.count}\n`).join('');
  const self = fs.readlinkSync('/proc/self/ns/user');
  const child = spawn('unshare', ['--user', '--', 'sleep', '30'], { stdio: 'ignore' });
  child.on('error', () => {}); // no unshare: no pid, said below
  // All of this runs without a turn of the event loop, so the child is not reaped meanwhile:
  // even dead, its pid stays its own (a zombie), and the maps cannot land on another process.
  try {
    const pid = child.pid;
    if (!pid) throw new Error('unshare --user did not start');
    // unshare(1) execs sleep once its namespace exists: wait for the link to change.
    let ns = '';
    for (let i = 0; i < 2000; i++) {
      try {
        ns = fs.readlinkSync(`/proc/${pid}/ns/user`);
      } catch {
        ns = '';
      }
      if (ns && ns !== self) break;
      sleepMs(1);
    }
    if (!ns || ns === self) throw new Error('unshare --user: no new user namespace');
    fs.writeFileSync(`/proc/${pid}/uid_map`, text);
    fs.writeFileSync(`/proc/${pid}/gid_map`, text);
    const fd = fs.openSync(`/proc/${pid}/ns/user`, 'r');
    if (fs.readlinkSync(`/proc/self/fd/${fd}`) !== ns) {
      fs.closeSync(fd);
      throw new Error('unshare --user: its namespace changed under us');
    }
    return fd;
  } finally {
    child.kill('SIGKILL');
  }
}

/** Mounts a read-only, nosuid, nodev, noexec view of `src` on `target` (an empty directory) with `map`. */
export function mountIdmappedView(src: string, target: string, map: IdExtent[]): void {
  const libc = getLibc();
  const userns = usernsWith(map);
  let tree = -1;
  try {
    tree = Number(libc.syscall(SYS_open_tree, 'int', -100, 'str', src, 'unsigned int', OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW));
    if (tree < 0) throw errnoError('open_tree', libc.errno(), src);
    const attr = encode(MOUNT_ATTR, {
      attrSet: BigInt(MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC),
      userns: BigInt(userns),
    });
    if (Number(libc.syscall(SYS_mount_setattr, 'int', tree, 'str', '', 'unsigned int', AT_EMPTY_PATH, 'void *', attr, 'size_t', MOUNT_ATTR.size)) < 0) {
      throw errnoError('mount_setattr (idmapped)', libc.errno(), src);
    }
    if (Number(libc.syscall(SYS_move_mount, 'int', tree, 'str', '', 'int', -100, 'str', target, 'unsigned int', MOVE_MOUNT_F_EMPTY_PATH)) < 0) {
      throw errnoError('move_mount', libc.errno(), target);
    }
  } finally {
    if (tree >= 0) fs.closeSync(tree);
    fs.closeSync(userns);
  }
}

/** Takes a view away (lazily: an rsync still reading keeps it until it ends). */
export function unmountView(target: string): void {
  umount(target, true);
}

/**
 * A view as "root" in `dir`, a directory of its own (mkdtemp's, 0700): so no other host user
 * reaches the container's files through it (the private areas' parent is 0700 too). The caller
 * records `dir` first (a killed process leaves it to removeViewDir()).
 */
export function mountViewIn(dir: string, src: string, map: IdExtent[]): void {
  fs.mkdirSync(`${dir}/root`, { mode: 0o700 });
  mountIdmappedView(src, `${dir}/root`, map);
}

/** Unmounts a mountViewIn() view and removes its directories, never anything through the mount. */
export function removeViewDir(dir: string): void {
  unmountView(`${dir}/root`);
  for (const d of [`${dir}/root`, dir]) {
    try {
      fs.rmdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
