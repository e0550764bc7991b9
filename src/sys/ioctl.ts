/**
 * ioctl(2), the one binding every ioctl of vzkit goes through (loop devices, FS_IOC_FS*XATTR), and
 * the _IOC request encoders of <asm-generic/ioctl.h>.
 */
import { getLibc, errnoError } from './libc.js';

export const SYS_ioctl = 16; // x86_64

export const IOC_NONE = 0;
export const IOC_WRITE = 1;
export const IOC_READ = 2;

/** _IOC(dir, type, nr, size) = dir << 30 | size << 16 | type << 8 | nr. */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}
export const io = (type: number, nr: number): number => ioc(IOC_NONE, type, nr, 0);
export const ior = (type: number, nr: number, size: number): number => ioc(IOC_READ, type, nr, size);
export const iow = (type: number, nr: number, size: number): number => ioc(IOC_WRITE, type, nr, size);
export const iowr = (type: number, nr: number, size: number): number => ioc(IOC_READ | IOC_WRITE, type, nr, size);

/** ioctl(fd, req[, arg]): its result (>= 0), or -errno. arg: a struct to pass by pointer, or an integer. */
export function ioctlRaw(fd: number, req: number, arg: Buffer | number | null = null): number {
  const libc = getLibc();
  const r =
    arg === null
      ? libc.syscall(SYS_ioctl, 'int', fd, 'unsigned long', req)
      : typeof arg === 'number'
        ? libc.syscall(SYS_ioctl, 'int', fd, 'unsigned long', req, 'unsigned long', arg)
        : libc.syscall(SYS_ioctl, 'int', fd, 'unsigned long', req, 'void *', arg);
  const n = Number(r);
  return n < 0 ? -libc.errno() : n;
}

/** ioctlRaw that throws an errno Error naming the request (`what`) and the file. */
export function ioctl(fd: number, req: number, arg: Buffer | number | null, what: string, p: string): number {
  const n = ioctlRaw(fd, req, arg);
  if (n < 0) throw errnoError(`ioctl ${what}`, -n, p);
  return n;
}
