/**
 * The node's backup key: 32 random bytes in a root-only file (the global config's backup_key,
 * default ROOT/backup.key) with which vzdump authenticates its archives (auth.ts). vzdump makes
 * it on first need; nodes that trust each other's backups (a fleet, a shared backup store) point
 * backup_key at one copy of the same key.
 *
 * Whoever can read the key can make archives this node trusts, and whoever can replace it can
 * make this node trust theirs: a key that is not a regular root-owned file readable by root only,
 * of exactly 32 bytes, in a directory only root can write, is refused in one line (exit 85).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { VzError, systemError } from '../base/errors.js';

export const KEY_BYTES = 32;

/** The owner the key and its directory must have: root (the tools run as root only); the caller's uid in unit tests. */
const owner = () => process.geteuid?.() ?? 0;

function refused(file: string, why: string): VzError {
  return new VzError('INVALID_CONFIG', `backup key ${file}: ${why}`, {
    hint: `it must be a regular file of ${KEY_BYTES} bytes, owned by root, mode 0600, in a directory only root can write (backup_key in the global config names it)`,
  });
}

function checkKeyStat(file: string, st: fs.Stats): void {
  if (st.isSymbolicLink()) throw refused(file, 'is a symbolic link, not a regular file');
  if (!st.isFile()) throw refused(file, 'is not a regular file');
  if (st.uid !== owner()) throw refused(file, `is owned by uid ${st.uid}, not by root`);
  // Owner bits only: 0600 (or 0400); group, other and setuid bits are refused.
  if ((st.mode & 0o7077) !== 0 || (st.mode & 0o400) === 0) throw refused(file, `has mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, not 0600`);
  if (st.size !== KEY_BYTES) throw refused(file, `is ${st.size} bytes, not ${KEY_BYTES}`);
}

/** Whoever can write the directory can replace the key. */
function checkKeyDir(file: string): void {
  const dir = path.dirname(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    throw systemError(`cannot use the directory of backup key ${file}`, e);
  }
  if (st.uid !== owner() || (st.mode & 0o022) !== 0) {
    throw refused(file, `its directory ${dir} can be written by others than root (owner ${st.uid}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`);
  }
}

/** The key, or undefined when the file does not exist. Throws a one-line refusal for a bad one. */
export function loadBackupKey(file: string): Buffer | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw systemError(`cannot read backup key ${file}`, e);
  }
  checkKeyStat(file, st);
  checkKeyDir(file);
  let fd: number;
  try {
    // No link followed, and a FIFO swapped in meanwhile cannot block the open.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw refused(file, 'is a symbolic link, not a regular file');
    throw systemError(`cannot read backup key ${file}`, e);
  }
  try {
    const now = fs.fstatSync(fd);
    if (now.ino !== st.ino || now.dev !== st.dev) throw refused(file, 'was replaced while it was read');
    checkKeyStat(file, now);
    const buf = Buffer.alloc(KEY_BYTES + 1);
    let got = 0;
    for (let n; got < buf.length && (n = fs.readSync(fd, buf, got, buf.length - got, got)) > 0; ) got += n;
    if (got !== KEY_BYTES) throw refused(file, `is ${got} bytes, not ${KEY_BYTES}`);
    return buf.subarray(0, KEY_BYTES);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The key, made first if there is none. Made whole in a file of its own and then linked into
 * place (link fails if the name exists): two vzdumps that start at once agree on one key, and
 * nobody ever reads half a key.
 */
export function ensureBackupKey(file: string): Buffer {
  const have = loadBackupKey(file);
  if (have) return have;
  const dir = path.dirname(file);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw systemError(`cannot make the directory of backup key ${file}`, e);
  }
  checkKeyDir(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, randomBytes(KEY_BYTES));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(tmp, file);
    } catch (e) {
      // Another vzdump was first: its key is the key.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    syncDir(dir);
  } catch (e) {
    throw e instanceof VzError ? e : systemError(`cannot make backup key ${file}`, e);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const key = loadBackupKey(file);
  if (!key) throw refused(file, 'vanished right after it was made');
  return key;
}

/** A key lost to a power cut would leave every archive made since unauthenticated. */
function syncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
