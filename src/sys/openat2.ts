/**
 * openat2(2) and struct open_how (<linux/openat2.h>): path resolution the kernel confines
 * (RESOLVE_IN_ROOT for the host's reads and writes into a container's files, RESOLVE_BENEATH for
 * the quota walk). O_CLOEXEC is always added.
 */
import { getLibc, errnoError } from './libc.js';
import { layout, u64, encode } from './struct.js';

export const SYS_openat2 = 437;

export const RESOLVE_NO_XDEV = 0x01n;
export const RESOLVE_NO_MAGICLINKS = 0x02n;
export const RESOLVE_NO_SYMLINKS = 0x04n;
export const RESOLVE_BENEATH = 0x08n;
export const RESOLVE_IN_ROOT = 0x10n;

/** Open flags that Node's fs.constants lacks. */
export const O_PATH = 0o10000000;
export const O_CLOEXEC = 0o2000000;

export const OPEN_HOW = layout('open_how', '<linux/openat2.h>', 24, {
  flags: u64('flags', 0),
  mode: u64('mode', 8),
  resolve: u64('resolve', 16),
});

export interface OpenHow {
  flags: number;
  mode?: number; // only with O_CREAT or O_TMPFILE; must be 0 otherwise
  resolve: bigint; // RESOLVE_* mask
}

/** openat2(dirfd, path, how): the fd, or -errno. */
export function openat2Raw(dirfd: number, p: string, how: OpenHow): number {
  const b = encode(OPEN_HOW, { flags: BigInt(how.flags | O_CLOEXEC), mode: BigInt(how.mode ?? 0), resolve: how.resolve });
  const libc = getLibc();
  const fd = Number(libc.syscall(SYS_openat2, 'int', dirfd, 'str', p, 'void *', b, 'size_t', OPEN_HOW.size));
  return fd < 0 ? -libc.errno() : fd;
}

/** openat2Raw that throws an errno Error naming `shown` (the path as the user knows it). */
export function openat2(dirfd: number, p: string, how: OpenHow, shown: string): number {
  const fd = openat2Raw(dirfd, p, how);
  if (fd < 0) throw errnoError('openat2', -fd, shown);
  return fd;
}
