/**
 * POSIX access ACLs on the node's gate directories (ROOT/root, ROOT/dump): closed to every
 * host user but root (mode 0700 in effect), with a search-only entry (`u:UID:--x`) for each
 * container's root uid, which must pass them to reach its root file system (the helper binds it
 * as that uid) or its dump. LXC's documentation does the same for unprivileged containers
 * (`setfacl -m u:100000:x` on the parents); Incus gives each container a 0100 directory owned by
 * its root uid. The entries are read and written as the kernel's system.posix_acl_access xattr
 * (include/uapi/linux/posix_acl_xattr.h), under a flock on the directory, so concurrent starts
 * never lose each other's entry.
 */
import fs from 'node:fs';
import { errnoError, getLibc } from './libc.js';
import { layout, u16, u32, encode, decode } from './struct.js';

const NAME = 'system.posix_acl_access';
const VERSION = 2;
const USER_OBJ = 0x01;
const USER = 0x02;
const GROUP_OBJ = 0x04;
const GROUP = 0x08;
const MASK = 0x10;
const OTHER = 0x20;
const UNDEFINED = 0xffffffff;
const ENODATA = 61;
const LOCK_EX = 2;

/** The xattr's value: this header, then one entry per ACL entry. */
export const ACL_HEADER = layout('posix_acl_xattr_header', '<linux/posix_acl_xattr.h>', 4, { version: u32('a_version', 0) });
export const ACL_ENTRY = layout('posix_acl_xattr_entry', '<linux/posix_acl_xattr.h>', 8, {
  tag: u16('e_tag', 0),
  perm: u16('e_perm', 2),
  id: u32('e_id', 4),
});

interface Entry {
  tag: number;
  perm: number;
  id: number;
}

export function decodeAcl(b: Buffer): Entry[] {
  const [h, e] = [ACL_HEADER.size, ACL_ENTRY.size];
  if (b.length < h || decode(ACL_HEADER, b).version !== VERSION || (b.length - h) % e) throw new Error('unknown ACL format');
  const out: Entry[] = [];
  for (let o = h; o < b.length; o += e) out.push(decode(ACL_ENTRY, b.subarray(o)));
  return out;
}

/** In the kernel's order: by tag, then by id (posix_acl_valid refuses anything else). */
export function encodeAcl(entries: Entry[]): Buffer {
  const sorted = [...entries].sort((a, b) => a.tag - b.tag || a.id - b.id);
  return Buffer.concat([encode(ACL_HEADER, { version: VERSION }), ...sorted.map((e) => encode(ACL_ENTRY, e))]);
}

/**
 * The ACL that closes a directory to all but its owner, with `--x` for `add` and without the
 * entries of `remove`; other named entries (an admin's own) are kept.
 */
export function gateAcl(current: Entry[], add: number[], remove: number[]): Entry[] {
  const users = new Map<number, number>();
  const groups = new Map<number, number>();
  for (const e of current) {
    if (e.tag === USER) users.set(e.id, e.perm);
    if (e.tag === GROUP) groups.set(e.id, e.perm);
  }
  for (const u of remove) users.delete(u);
  for (const u of add) users.set(u, (users.get(u) ?? 0) | 1);
  const named = [...users.values(), ...groups.values()];
  const out: Entry[] = [
    { tag: USER_OBJ, perm: 7, id: UNDEFINED },
    { tag: GROUP_OBJ, perm: 0, id: UNDEFINED },
    { tag: OTHER, perm: 0, id: UNDEFINED },
    ...[...users].map(([id, perm]) => ({ tag: USER, perm, id })),
    ...[...groups].map(([id, perm]) => ({ tag: GROUP, perm, id })),
  ];
  if (named.length) out.push({ tag: MASK, perm: named.reduce((a, p) => a | p, 0), id: UNDEFINED });
  return out;
}

function readAcl(fd: number, mode: number): Entry[] {
  const buf = Buffer.alloc(4 + 8 * 4096);
  const n = Number(getLibc().fgetxattr(fd, NAME, buf, buf.length));
  if (n >= 0) return decodeAcl(buf.subarray(0, n));
  const errno = getLibc().errno();
  if (errno !== ENODATA) throw errnoError('fgetxattr', errno);
  // No ACL: the mode bits are the ACL.
  return [
    { tag: USER_OBJ, perm: (mode >> 6) & 7, id: UNDEFINED },
    { tag: GROUP_OBJ, perm: (mode >> 3) & 7, id: UNDEFINED },
    { tag: OTHER, perm: mode & 7, id: UNDEFINED },
  ];
}

const same = (a: Entry[], b: Entry[]) => encodeAcl(a).equals(encodeAcl(b));

/**
 * Makes `dir` a gate: owner rwx, group and others nothing, search for each uid of `add`, no
 * entry for those of `remove`. Cheap when nothing changes (one getxattr). Throws on a file system
 * without ACLs (EOPNOTSUPP), for the caller to decide.
 */
export function gateDir(dir: string, add: number[] = [], remove: number[] = []): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY); // a host path: an admin may have made it a link
  try {
    const want = (cur: Entry[]) => gateAcl(cur, add, remove);
    const mode = () => fs.fstatSync(fd).mode;
    let cur = readAcl(fd, mode());
    if (same(cur, want(cur))) return;
    const libc = getLibc();
    if (libc.flock(fd, LOCK_EX) !== 0) throw errnoError('flock', libc.errno(), dir);
    cur = readAcl(fd, mode()); // again, under the lock
    const next = want(cur);
    if (same(cur, next)) return;
    const b = encodeAcl(next);
    if (Number(libc.fsetxattr(fd, NAME, b, b.length, 0)) !== 0) throw errnoError('fsetxattr', libc.errno(), dir);
  } finally {
    fs.closeSync(fd); // drops the flock
  }
}
