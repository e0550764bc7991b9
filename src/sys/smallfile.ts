/**
 * Reads a small host file that someone else may have put there (an archive's .sha256 or .auth in a
 * shared dump directory): no link followed, no wait on a FIFO, regular files only, size-capped.
 */
import fs from 'node:fs';

export type SmallFile = { ok: true; text: string } | { ok: false; code: 'ENOENT' | 'ELOOP' | 'NOTREG' | 'TOOBIG' | string; size?: number };

export function readSmallFile(file: string, max: number): SmallFile {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    return { ok: false, code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { ok: false, code: 'NOTREG' };
    if (st.size > max) return { ok: false, code: 'TOOBIG', size: st.size };
    const buf = Buffer.alloc(max);
    const n = fs.readSync(fd, buf, 0, max, 0);
    return { ok: true, text: buf.subarray(0, n).toString('latin1') };
  } finally {
    fs.closeSync(fd);
  }
}
