/**
 * Per-container lock: flock(2) on root/lock/CTID.lck. The kernel drops it when the holder dies,
 * so a vzctl killed with SIGKILL never leaves a stale lock. A second operation waits up to
 * `waitMs` and then fails with vzctl's "locked" exit code 9.
 * The holder may remove the file as it releases the lock (a CTID that does not exist keeps no
 * lock file). That is safe because a lock only counts once its holder has checked that the path
 * still names the inode it locked: a waiter that opened the file before the unlink gets the
 * flock on the orphaned inode, sees the mismatch and starts over on the new file (the usual
 * unlink-safe lock file protocol, as in Debian's lockfile-progs and systemd's lock files).
 */
import fs from 'node:fs';
import path from 'node:path';
import { getLibc, errnoError } from './libc.js';
import { VzError } from '../base/errors.js';
import { sleepMs } from './sleep.js';

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

export interface Lock {
  /** `remove`: unlink the lock file first (still holding the lock), then drop the lock. */
  release(opts?: { remove?: boolean }): void;
}

export function lockFile(file: string, opts: { waitMs: number; ctid?: number; what?: string }): Lock {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  const libc = getLibc();
  const deadline = Date.now() + opts.waitMs;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    if (libc.flock(fd, LOCK_EX | LOCK_NB) === 0) {
      if (sameFile(fd, file)) break;
      // Its holder removed the file while we waited: the lock is now the new file's.
      fs.closeSync(fd);
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
      delay = 1;
      continue;
    }
    const errno = libc.errno();
    if (errno !== EWOULDBLOCK) {
      fs.closeSync(fd);
      throw errnoError('flock', errno, file);
    }
    if (Date.now() >= deadline) {
      const holder = readHolder(file);
      fs.closeSync(fd);
      throw new VzError('LOCKED', `${opts.what ?? 'container'} is locked${holder ? ` by pid ${holder}` : ''}`, {
        ctid: opts.ctid,
        hint: 'another vzctl operation is in progress; retry when it has finished',
      });
    }
    sleepMs(delay);
  }
  fs.ftruncateSync(fd);
  fs.writeSync(fd, `${process.pid}\n`, 0);
  let released = false;
  return {
    release(o = {}) {
      if (released) return;
      released = true;
      if (o.remove) fs.rmSync(file, { force: true });
      fs.closeSync(fd); // closing the only fd drops the flock
    },
  };
}

function sameFile(fd: number, file: string): boolean {
  const a = fs.fstatSync(fd);
  const b = fs.statSync(file, { throwIfNoEntry: false });
  return b !== undefined && a.ino === b.ino && a.dev === b.dev;
}

function readHolder(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
