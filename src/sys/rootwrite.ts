/**
 * Writes into a container's file system from the host. Every open goes through openat2 with
 * RESOLVE_IN_ROOT, so a symlink planted by the container resolves inside its root and can never
 * redirect a host write (as root) to a host file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { getLibc, errnoError, SYS_openat2 } from './libc.js';

const RESOLVE_IN_ROOT = 0x10n;
const RESOLVE_NO_MAGICLINKS = 0x02n;

export function openInRoot(root: string, relPath: string, flags: number, mode = 0o644): number {
  const dirfd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const how = Buffer.alloc(24);
    how.writeBigUInt64LE(BigInt(flags | 0o2000000 /* O_CLOEXEC */), 0);
    how.writeBigUInt64LE(flags & fs.constants.O_CREAT ? BigInt(mode) : 0n, 8);
    how.writeBigUInt64LE(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, 16);
    const libc = getLibc();
    const fd = Number(libc.syscall(SYS_openat2, 'int', dirfd, 'str', relPath, 'void *', how, 'size_t', 24));
    if (fd < 0) throw errnoError('openat2', libc.errno(), path.join(root, relPath));
    return fd;
  } finally {
    fs.closeSync(dirfd);
  }
}

/** Replaces the content of a file inside the container root, keeping or setting its owner. */
export function writeFileInRoot(
  root: string,
  relPath: string,
  content: string,
  opts: { mode?: number; uid?: number; gid?: number } = {},
): void {
  const { O_WRONLY, O_CREAT, O_TRUNC } = fs.constants;
  const fd = openInRoot(root, relPath, O_WRONLY | O_CREAT | O_TRUNC, opts.mode ?? 0o644);
  try {
    fs.writeSync(fd, content);
    if (opts.uid !== undefined && opts.gid !== undefined) fs.fchownSync(fd, opts.uid, opts.gid);
  } finally {
    fs.closeSync(fd);
  }
}

export function readFileInRoot(root: string, relPath: string): string | undefined {
  let fd: number;
  try {
    fd = openInRoot(root, relPath, fs.constants.O_RDONLY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
