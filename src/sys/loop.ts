/**
 * Loop devices through their ioctls (koffi's syscall; no losetup per call).
 *
 * Numbers and layouts are from <linux/loop.h>; test/unit/sys/layouts.test.ts checks them against it.
 *
 * Two ways to attach:
 *  - `withLoop(image, fn)` attaches with LO_FLAGS_AUTOCLEAR and holds the device open while `fn`
 *    runs (typically a mount). When the last opener goes away (our fd on return, or the mount on
 *    umount), the kernel clears the device by itself: a crash can never leak a bound device.
 *  - `attachLoop(image)` attaches without autoclear (the device would clear the moment we closed
 *    our fd otherwise); the caller must `detachLoop` it.
 *
 * This host has no udev: /dev/loopN nodes that the kernel creates on LOOP_CTL_GET_FREE are made by
 * us with mknod(1), with the major:minor read from /sys/block/loopN/dev.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ioctl } from './ioctl.js';
import { layout, u32, u64, chars, embed, encode, decode, type Values } from './struct.js';
import { childProcess } from './childproc.js';

export const LOOP_CLR_FD = 0x4c01;
export const LOOP_GET_STATUS64 = 0x4c05;
export const LOOP_SET_CAPACITY = 0x4c07;
export const LOOP_CONFIGURE = 0x4c0a;
export const LOOP_CTL_GET_FREE = 0x4c82;

export const LO_FLAGS_READ_ONLY = 1;
export const LO_FLAGS_AUTOCLEAR = 4;

export const LO_NAME_SIZE = 64;

/** struct loop_info64 (LOOP_GET_STATUS64), the fields vzkit reads. */
export const LOOP_INFO64 = layout('loop_info64', '<linux/loop.h>', 232, {
  device: u64('lo_device', 0),
  inode: u64('lo_inode', 8),
  offset: u64('lo_offset', 24),
  sizelimit: u64('lo_sizelimit', 32),
  number: u32('lo_number', 40),
  flags: u32('lo_flags', 52),
  fileName: chars('lo_file_name', 56, LO_NAME_SIZE), // informational only; truncated to 63 bytes
});

/** struct loop_config (LOOP_CONFIGURE): the backing fd, the block size, and a loop_info64 at 8. */
export const LOOP_CONFIG_INFO_OFFSET = 8;
export const LOOP_CONFIG = layout('loop_config', '<linux/loop.h>', 304, {
  fd: u32('fd', 0),
  blockSize: u32('block_size', 4), // 0: the kernel's default (512)
  ...embed('info', LOOP_CONFIG_INFO_OFFSET, LOOP_INFO64.fields),
});

const EBUSY = 16;

export type LoopConfig = Pick<Values<typeof LOOP_CONFIG>, 'fd'> &
  Partial<Pick<Values<typeof LOOP_CONFIG>, 'blockSize' | 'flags' | 'offset' | 'sizelimit' | 'fileName'>>;

/** struct loop_config as bytes (little endian). */
export const encodeLoopConfig = (c: LoopConfig): Buffer => encode(LOOP_CONFIG, c);

export type LoopInfo = Values<typeof LOOP_INFO64>;

/** struct loop_info64 from bytes (as LOOP_GET_STATUS64 fills it). */
export const decodeLoopInfo64 = (b: Buffer): LoopInfo => decode(LOOP_INFO64, b);

/** /dev/loopN, made with mknod when no udev did it (major:minor from sysfs). */
function ensureLoopNode(n: number): string {
  const dev = `/dev/loop${n}`;
  const [maj, min] = fs.readFileSync(`/sys/block/loop${n}/dev`, 'utf8').trim().split(':');
  try {
    const st = fs.statSync(dev);
    if (st.isBlockDevice() && st.rdev === makedev(Number(maj), Number(min))) return dev;
    throw new Error(`${dev} exists but is not block device ${maj}:${min}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const r = childProcess().spawnSync('mknod', ['-m', '0660', dev, 'b', maj!, min!], { encoding: 'utf8' });
  // EEXIST: another allocator made it between our stat and mknod.
  if (r.status !== 0 && !fs.existsSync(dev)) {
    throw new Error(`cannot create ${dev} (no udev here): ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
  }
  return dev;
}

function makedev(major: number, minor: number): number {
  // glibc's encoding, as st_rdev reports it.
  return (major & 0xfff) * 0x100 + (minor & 0xff) + (minor >>> 8) * 0x100000 + Math.floor(major / 0x1000) * 0x100000000;
}

export interface LoopHandle {
  dev: string;
  fd: number; // an open fd on the loop device; closing it may clear an autoclear device
}

/**
 * Binds `imagePath` to a free loop device with LOOP_CONFIGURE and returns it still open.
 * Retries when another process takes the same free device first (EBUSY).
 */
export function openLoop(imagePath: string, opts: { autoclear?: boolean; readOnly?: boolean } = {}): LoopHandle {
  const file = path.resolve(imagePath);
  const backing = fs.openSync(file, opts.readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR);
  try {
    const ctl = fs.openSync('/dev/loop-control', fs.constants.O_RDWR);
    try {
      let flags = 0;
      if (opts.autoclear) flags |= LO_FLAGS_AUTOCLEAR;
      if (opts.readOnly) flags |= LO_FLAGS_READ_ONLY;
      const cfg = encodeLoopConfig({ fd: backing, flags, fileName: file });
      for (let attempt = 0; ; attempt++) {
        const n = ioctl(ctl, LOOP_CTL_GET_FREE, null, 'LOOP_CTL_GET_FREE', '/dev/loop-control');
        const dev = ensureLoopNode(n);
        const fd = fs.openSync(dev, opts.readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR);
        try {
          ioctl(fd, LOOP_CONFIGURE, cfg, 'LOOP_CONFIGURE', dev);
          return { dev, fd };
        } catch (e) {
          fs.closeSync(fd);
          if ((e as NodeJS.ErrnoException).errno === -EBUSY && attempt < 20) continue;
          throw e;
        }
      }
    } finally {
      fs.closeSync(ctl);
    }
  } finally {
    // The loop device holds its own reference to the file.
    fs.closeSync(backing);
  }
}

/**
 * Attaches with autoclear and runs `fn(dev)` while holding the device open. Whatever `fn` leaves
 * holding the device (a mount) keeps it; otherwise it is cleared when we close it.
 */
export function withLoop<T>(imagePath: string, fn: (dev: string) => T): T {
  const h = openLoop(imagePath, { autoclear: true });
  try {
    return fn(h.dev);
  } finally {
    fs.closeSync(h.fd);
  }
}

/** Attaches without autoclear; the device stays bound until `detachLoop`. */
export function attachLoop(imagePath: string): string {
  const h = openLoop(imagePath);
  fs.closeSync(h.fd);
  return h.dev;
}

/**
 * LOOP_CLR_FD. A device still open elsewhere (mounted) is only marked to clear on its last close
 * (the kernel's behaviour). Detaching an unbound device is not an error.
 */
export function detachLoop(dev: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dev, fs.constants.O_RDONLY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENXIO') return;
    throw e;
  }
  try {
    ioctl(fd, LOOP_CLR_FD, 0, 'LOOP_CLR_FD', dev);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENXIO') throw e; // ENXIO: not bound
  } finally {
    fs.closeSync(fd);
  }
}

/** Re-reads the backing file's size (after it was grown or shrunk). */
export function setCapacity(dev: string): void {
  const fd = fs.openSync(dev, fs.constants.O_RDONLY);
  try {
    ioctl(fd, LOOP_SET_CAPACITY, 0, 'LOOP_SET_CAPACITY', dev);
  } finally {
    fs.closeSync(fd);
  }
}

/** LOOP_GET_STATUS64 of a bound device. */
export function loopStatus(dev: string): LoopInfo {
  const fd = fs.openSync(dev, fs.constants.O_RDONLY);
  try {
    const b = Buffer.alloc(LOOP_INFO64.size);
    ioctl(fd, LOOP_GET_STATUS64, b, 'LOOP_GET_STATUS64', dev);
    return decodeLoopInfo64(b);
  } finally {
    fs.closeSync(fd);
  }
}

function loopName(dev: string): string {
  return path.basename(dev);
}

/** The backing file of a bound device (as the kernel names it now), or null when unbound. */
export function loopBackingFile(dev: string): string | null {
  try {
    return fs.readFileSync(`/sys/block/${loopName(dev)}/loop/backing_file`, 'utf8').replace(/\n$/, '');
  } catch {
    return null;
  }
}

/** All bound loop devices: device path and backing file. */
export function listLoops(): { dev: string; backingFile: string }[] {
  const out: { dev: string; backingFile: string }[] = [];
  for (const name of fs.readdirSync('/sys/block')) {
    if (!/^loop\d+$/.test(name)) continue;
    const b = loopBackingFile(`/dev/${name}`);
    if (b !== null) out.push({ dev: `/dev/${name}`, backingFile: b });
  }
  return out;
}

/** Loop devices bound to `imagePath` (matched by path: the file must not have been renamed since). */
export function findLoopsFor(imagePath: string): string[] {
  let want: string;
  try {
    want = fs.realpathSync(imagePath);
  } catch {
    want = path.resolve(imagePath);
  }
  return listLoops()
    .filter((l) => l.backingFile === want || l.backingFile === `${want} (deleted)`)
    .map((l) => l.dev);
}

export function findLoopFor(imagePath: string): string | null {
  return findLoopsFor(imagePath)[0] ?? null;
}
