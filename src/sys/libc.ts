/**
 * koffi bindings for the few syscalls Node lacks and that are safe from a threaded process.
 * Loaded lazily: commands that never lock or write into a container don't pay koffi's load time.
 */
import { createRequire } from 'node:module';
import { errnoName } from '../base/errno.js';

type Fn = (...args: unknown[]) => number | bigint;
interface Libc {
  flock: Fn;
  syscall: Fn;
  mount: Fn;
  umount2: Fn;
  fgetxattr: Fn;
  fsetxattr: Fn;
  errno: () => number;
}

let libc: Libc | undefined;

export function getLibc(): Libc {
  if (libc) return libc;
  // koffi is CommonJS with a native part: require it, never bundle it.
  const require = createRequire(import.meta.url);
  const koffi = require('koffi');
  const lib = koffi.load('libc.so.6');
  libc = {
    flock: lib.func('int flock(int fd, int op)'),
    syscall: lib.func('long syscall(long num, ...)'),
    mount: lib.func('int mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)'),
    umount2: lib.func('int umount2(const char *target, int flags)'),
    fgetxattr: lib.func('long fgetxattr(int fd, const char *name, void *value, size_t size)'),
    fsetxattr: lib.func('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)'),
    errno: () => koffi.errno() as number,
  };
  return libc;
}

export const SYS_pidfd_open = 434;
export const SYS_pidfd_send_signal = 424;

/** An Error with Node's usual errno fields, so callers handle FFI and fs failures alike. */
export function errnoError(syscall: string, errno: number, path?: string): NodeJS.ErrnoException {
  const name = errnoName(errno);
  const e = new Error(`${name}: ${syscall}${path ? ` '${path}'` : ''}`) as NodeJS.ErrnoException;
  e.errno = -errno;
  e.code = name;
  e.syscall = syscall;
  if (path) e.path = path;
  return e;
}

