/** Host mount table queries and bind mounts (mount(2) through koffi: no `mount` binary per call). */
import fs from 'node:fs';
import { getLibc, errnoError } from './libc.js';

export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 1 << 18;
export const MNT_DETACH = 2;

/** One line of /proc/PID/mountinfo, octal escapes (space, tab, newline, backslash) decoded. */
export interface MountInfo {
  majorMinor: string;
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string[];
  mountOptions: string[];
}

/** The one mountinfo parser of the project (storage, cgroup discovery and quotas use it). */
export function parseMountinfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    // Optional fields end at the lone "-" (never before field 6).
    const sep = f.indexOf('-', 6);
    if (sep < 0) continue;
    out.push({
      majorMinor: f[2]!,
      root: unescape(f[3]!),
      mountPoint: unescape(f[4]!),
      mountOptions: (f[5] ?? '').split(','),
      fsType: f[sep + 1]!,
      source: unescape(f[sep + 2] ?? ''),
      superOptions: (f[sep + 3] ?? '').split(','),
    });
  }
  return out;
}

export function listMounts(): MountInfo[] {
  return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** A dev_t (st_dev / st_rdev) split the way glibc's gnu_dev_major/minor do. */
export function devNumbers(dev: number | bigint): { major: number; minor: number } {
  const d = BigInt(dev);
  return {
    major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)),
    minor: Number((d & 0xffn) | ((d >> 12n) & ~0xffn)),
  };
}

export function isMountPoint(dir: string): boolean {
  return listMounts().some((m) => m.mountPoint === dir);
}

/** Mount points at or below `dir`, deepest first (the order to unmount them). */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return listMounts()
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/** mount(2) of a file system (`source` a device, or null); throws an errno Error naming `target`. */
export function mountFs(source: string | null, target: string, fsType: string, flags = 0, data: string | null = null): void {
  const libc = getLibc();
  if (libc.mount(source, target, fsType, flags, data) !== 0) throw errnoError('mount', libc.errno(), target);
}

export function bindMount(src: string, target: string): void {
  const libc = getLibc();
  if (libc.mount(src, target, null, MS_BIND | MS_REC, null) !== 0) throw errnoError('mount', libc.errno(), target);
  // A private mount: nothing a container mounts beneath it propagates back to the host.
  if (libc.mount(null, target, null, MS_PRIVATE | MS_REC, null) !== 0) throw errnoError('mount', libc.errno(), target);
}

export function umount(target: string, detach = true): void {
  const libc = getLibc();
  if (libc.umount2(target, detach ? MNT_DETACH : 0) !== 0) {
    const errno = libc.errno();
    if (errno === 22 /* EINVAL: not a mount point */ || errno === 2 /* ENOENT */) return;
    throw errnoError('umount2', errno, target);
  }
}
