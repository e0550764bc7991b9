/**
 * Per-container lock: flock(2) on root/lock/CTID.lck. The kernel drops it when the holder dies,
 * so a vzctl killed with SIGKILL never leaves a stale lock. A second operation waits up to
 * `waitMs` and then fails with vzctl's "locked" exit code 9.
 */
import fs from 'node:fs';
import path from 'node:path';
import { getLibc, errnoError } from './libc.js';
import { VzError } from '../core/errors.js';
import { sleepMs } from './sleep.js';

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

export interface Lock {
  release(): void;
}

export function lockFile(file: string, opts: { waitMs: number; ctid?: number; what?: string }): Lock {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  const libc = getLibc();
  const deadline = Date.now() + opts.waitMs;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    if (libc.flock(fd, LOCK_EX | LOCK_NB) === 0) break;
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
    release() {
      if (released) return;
      released = true;
      fs.closeSync(fd); // closing the only fd drops the flock
    },
  };
}

function readHolder(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
