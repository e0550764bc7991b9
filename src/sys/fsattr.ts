/**
 * Inode attributes that carry a project ID: struct fsxattr through FS_IOC_FSGETXATTR /
 * FS_IOC_FSSETXATTR (<linux/fs.h>; on an fd opened for reading), and struct file_attr through
 * file_getattr(2) / file_setattr(2) (Linux 6.17+; by name in a directory, so also for symlinks and
 * special files). test/unit/sys/layouts.test.ts checks both layouts against the headers with gcc.
 */
import os from 'node:os';
import { getLibc } from './libc.js';
import { ior, iow, ioctlRaw } from './ioctl.js';
import { layout, u32, u64, encode, decode, type Values } from './struct.js';

export const FS_XFLAG_PROJINHERIT = 0x200;
const AT_SYMLINK_NOFOLLOW = 0x100;

// ---- struct fsxattr (FS_IOC_FSGETXATTR / FS_IOC_FSSETXATTR), 28 bytes ------------------------

export const FSXATTR = layout('fsxattr', '<linux/fs.h>', 28, {
  xflags: u32('fsx_xflags', 0),
  extsize: u32('fsx_extsize', 4),
  nextents: u32('fsx_nextents', 8),
  projid: u32('fsx_projid', 12),
  cowextsize: u32('fsx_cowextsize', 16), // 20..27: fsx_pad, zero
});

export type Fsxattr = Values<typeof FSXATTR>;

export const FS_IOC_FSGETXATTR = ior(0x58, 31, FSXATTR.size); // _IOR('X', 31, struct fsxattr) = 0x801c581f
export const FS_IOC_FSSETXATTR = iow(0x58, 32, FSXATTR.size); // _IOW('X', 32, struct fsxattr) = 0x401c5820

export const encodeFsxattr = (x: Fsxattr): Buffer => encode(FSXATTR, x);
export const decodeFsxattr = (b: Buffer): Fsxattr => decode(FSXATTR, b);

/** FS_IOC_FSGETXATTR on an fd opened for reading: the attributes, or the errno. */
export function fsGetXattr(fd: number): { errno: number; attr?: Fsxattr } {
  const buf = Buffer.alloc(FSXATTR.size);
  const r = ioctlRaw(fd, FS_IOC_FSGETXATTR, buf);
  return r < 0 ? { errno: -r } : { errno: 0, attr: decodeFsxattr(buf) };
}

/** FS_IOC_FSSETXATTR; returns 0 or the errno. */
export function fsSetXattr(fd: number, x: Fsxattr): number {
  const r = ioctlRaw(fd, FS_IOC_FSSETXATTR, encodeFsxattr(x));
  return r < 0 ? -r : 0;
}

// ---- struct file_attr (file_getattr(2) / file_setattr(2), Linux 6.17+), 24 bytes -------------

/** Syscall numbers are the same on every architecture for syscalls this new. */
export const SYS_file_getattr = 468;
export const SYS_file_setattr = 469;
export const FILE_ATTR_SIZE_VER0 = 24;

/** Headers older than 6.17 lack it: FILE_ATTR_SIZE_VER0 marks those that have it. */
export const FILE_ATTR = layout(
  'file_attr',
  '<linux/fs.h>',
  FILE_ATTR_SIZE_VER0,
  {
    xflags: u64('fa_xflags', 0),
    extsize: u32('fa_extsize', 8),
    nextents: u32('fa_nextents', 12),
    projid: u32('fa_projid', 16),
    cowextsize: u32('fa_cowextsize', 20),
  },
  { guard: 'FILE_ATTR_SIZE_VER0' },
);

export function encodeFileAttr(x: Fsxattr): Buffer {
  return encode(FILE_ATTR, { ...x, xflags: BigInt(x.xflags >>> 0) }); // fa_xflags is a u64
}

export function decodeFileAttr(b: Buffer): Fsxattr {
  const a = decode(FILE_ATTR, b);
  return { ...a, xflags: Number(a.xflags & 0xffffffffn) };
}

/** undefined: not probed yet; false: the kernel has no file_getattr/file_setattr (before 6.17). */
let fileAttrSyscalls: boolean | undefined;

/**
 * file_getattr(2) on `name` in the directory `dirFd`, never following a symlink: the attributes, or
 * the errno (ENOSYS before 6.17, remembered). (It cannot take an O_PATH fd of the inode itself:
 * with AT_EMPTY_PATH it wants a real open file, EBADF.)
 */
export function fileGetattr(dirFd: number, name: string): { errno: number; attr?: Fsxattr } {
  const { ENOSYS } = os.constants.errno;
  if (fileAttrSyscalls === false) return { errno: ENOSYS };
  const buf = Buffer.alloc(FILE_ATTR_SIZE_VER0);
  const libc = getLibc();
  const r = Number(libc.syscall(SYS_file_getattr, 'int', dirFd, 'str', name, 'void *', buf, 'size_t', FILE_ATTR_SIZE_VER0, 'unsigned int', AT_SYMLINK_NOFOLLOW));
  if (r < 0) {
    const errno = libc.errno();
    if (errno === ENOSYS) fileAttrSyscalls = false;
    return { errno };
  }
  fileAttrSyscalls = true;
  return { errno: 0, attr: decodeFileAttr(buf) };
}

/** file_setattr(2) on `name` in the directory `dirFd`, never following a symlink; returns 0 or the errno. */
export function fileSetattr(dirFd: number, name: string, attr: Fsxattr): number {
  const buf = encodeFileAttr(attr);
  const libc = getLibc();
  const r = Number(libc.syscall(SYS_file_setattr, 'int', dirFd, 'str', name, 'void *', buf, 'size_t', FILE_ATTR_SIZE_VER0, 'unsigned int', AT_SYMLINK_NOFOLLOW));
  return r < 0 ? libc.errno() : 0;
}
