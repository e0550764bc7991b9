/**
 * The "image" driver (container in a file, like OpenVZ's ploop): the private area is a directory
 * holding `root.img`, a sparse file with an ext4 file system whose size is the container's disk
 * limit. It is mounted through an autoclear loop device, so the device frees itself when the
 * last mount of it goes away (also when vzkit dies half way).
 *
 * mkfs flags (chosen for a fresh sparse file):
 *  -b 4096                         4 KiB blocks whatever the size (mke2fs.conf's "small" type
 *                                  would pick 1 KiB below 512 MiB); growing keeps them
 *  -m 0                            no blocks reserved for root: the whole limit is the container's
 *  -E assume_storage_prezeroed=1   the file was just truncated, so it reads as zeros: mke2fs
 *                                  neither writes the inode tables and journal nor leaves them to
 *                                  the kernel's lazy-init thread (which would zero them later,
 *                                  after mount); the image stays as sparse as its metadata allows
 *  -E nodiscard                    nothing to discard in a new sparse file
 *  the journal is kept: the container's root must survive a host crash.
 *
 * The image is sparse: the host's free space is not reserved, so a full host file system shows up
 * inside the container as I/O errors (as with ploop). compact() (fstrim through the loop device,
 * which punches holes into the file) gives deleted data's blocks back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { childProcess } from '../sys/childproc.js';
import { sleepMs } from '../sys/sleep.js';
import { listMounts, mountFs, mountsUnder, umount } from '../sys/mounts.js';
import { detachLoop, findLoopsFor, setCapacity, withLoop } from '../sys/loop.js';
import type { CompactResult, CreateOptions, DiskUsage, StorageDriver, StorageTarget } from './types.js';
import { VzError, systemError, type ErrorCodeName } from '../base/errors.js';

export const IMAGE_FILE = 'root.img';
export const DEFAULT_IMAGE_SIZE = 2 * 1024 ** 3;
export const MIN_IMAGE_SIZE = 16 * 1024 ** 2;
const MS_RDONLY = 1;
const MiB = 1024 ** 2;

export function imagePath(t: StorageTarget): string {
  return path.join(t.privatePath, IMAGE_FILE);
}

/** Runs a tool; throws VzError(code) with the last line of its stderr on failure. */
function run(cmd: string, args: string[], code: ErrorCodeName, what: string, okStatus: number[] = [0]): string {
  const r = childProcess().spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status === null || !okStatus.includes(r.status)) {
    const msg = (r.stderr || r.stdout || r.error?.message || `exit ${r.status}`).trim().split('\n').filter(Boolean).pop() ?? '';
    throw new VzError(/No space left/.test(msg) ? 'NO_SPACE' : code, `${what}: ${cmd} ${msg ? `failed: ${msg}` : `exited ${r.status}`}`);
  }
  return r.stdout;
}

function checkSize(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < MIN_IMAGE_SIZE) {
    throw new VzError('INVALID', `invalid image size ${bytes}: at least ${MIN_IMAGE_SIZE / MiB} MiB`);
  }
  // Whole 4 KiB blocks.
  return Math.ceil(bytes / 4096) * 4096;
}

function mountExt4(dev: string, target: string, flags = 0): void {
  mountFs(dev, target, 'ext4', flags);
}

/** Unmounts everything at or below `dir`; the top one without MNT_DETACH unless it is busy. */
function unmountTree(dir: string): void {
  const all = mountsUnder(dir);
  for (const m of all) {
    if (m !== dir) {
      umount(m, true);
      continue;
    }
    try {
      umount(m, false);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
      // Busy: detach it; the loop device clears itself when the last user goes away.
      umount(m, true);
    }
  }
}

/** Waits (briefly) until no loop device is bound to `img`; explicit LOOP_CLR_FD on unmounted leftovers. */
function releaseLoops(img: string, waitMs = 1000): void {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const loops = findLoopsFor(img);
    if (loops.length === 0) return;
    const mounted = new Set(listMounts().map((m) => m.source));
    const idle = loops.filter((d) => !mounted.has(d));
    if (Date.now() >= deadline) {
      // Left behind by a crash (no autoclear) or still open elsewhere: clear it, or have the
      // kernel clear it on its last close.
      for (const d of idle) detachLoop(d);
      return;
    }
    sleepMs(20);
  }
}

const CAP_SYS_RESOURCE = 24;

/** Online ext4 resize (EXT4_IOC_RESIZE_FS) needs CAP_SYS_RESOURCE; some sandboxes drop it. */
export function hasCapSysResource(): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? ((BigInt('0x' + m[1]) >> BigInt(CAP_SYS_RESOURCE)) & 1n) === 1n : false;
}

function dirSize(st: fs.Stats): number {
  return st.blocks * 512;
}

interface Ext4Info {
  blockSize: number;
  blockCount: number;
  freeBlocks: number;
  inodeCount: number;
  freeInodes: number;
}

function dumpe2fs(img: string): Ext4Info {
  const out = run('dumpe2fs', ['-h', img], 'SYSTEM', `cannot read the file system of ${img}`);
  const num = (k: string) => {
    const m = new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(out);
    if (!m) throw new VzError('SYSTEM', `dumpe2fs ${img}: no "${k}"`);
    return Number(m[1]);
  };
  return {
    blockSize: num('Block size'),
    blockCount: num('Block count'),
    freeBlocks: num('Free blocks'),
    inodeCount: num('Inode count'),
    freeInodes: num('Free inodes'),
  };
}

export class ImageDriver implements StorageDriver {
  readonly name = 'image';
  readonly caps = { quota: false, snapshot: false, send: false, resize: true, compact: true };

  create(t: StorageTarget, populate: (dir: string) => void, opts: CreateOptions = {}): void {
    const size = checkSize(opts.sizeBytes ?? DEFAULT_IMAGE_SIZE);
    const tmp = `${t.privatePath}.creating`;
    const img = path.join(tmp, IMAGE_FILE);
    const mnt = path.join(tmp, 'mnt');
    this.clearDir(tmp);
    try {
      fs.mkdirSync(tmp, { mode: 0o700 });
      const fd = fs.openSync(img, 'wx', 0o600);
      try {
        fs.ftruncateSync(fd, size);
      } finally {
        fs.closeSync(fd);
      }
      run(
        'mkfs.ext4',
        ['-q', '-F', '-b', '4096', '-m', '0', '-E', 'assume_storage_prezeroed=1,nodiscard', ...(opts.inodes ? ['-N', String(opts.inodes)] : []), img],
        'NEW_PRIVATE',
        `cannot make a file system in ${img}`,
      );
      fs.mkdirSync(mnt);
      try {
        withLoop(img, (dev) => mountExt4(dev, mnt));
      } catch (e) {
        throw systemError(`cannot mount ${img} on ${mnt}`, e, { ctid: t.ctid, code: 'CANT_MOUNT' });
      }
      try {
        populate(mnt);
      } catch (e) {
        if (e instanceof VzError) throw e;
        if ((e as NodeJS.ErrnoException).code) throw systemError(`cannot populate ${t.privatePath}`, e, { ctid: t.ctid, code: 'NEW_PRIVATE' });
        throw e;
      } finally {
        this.unmountAt(mnt, img, t.ctid);
      }
      fs.rmdirSync(mnt);
      fs.renameSync(tmp, t.privatePath);
    } catch (e) {
      this.clearDir(tmp);
      throw e;
    }
  }

  destroy(t: StorageTarget): void {
    try {
      this.unmount(t);
      const doomed = `${t.privatePath}.destroying`;
      this.clearDir(doomed);
      if (fs.existsSync(t.privatePath)) {
        this.releaseDir(t.privatePath);
        fs.renameSync(t.privatePath, doomed);
        this.clearDir(doomed);
      }
      this.clearDir(`${t.privatePath}.creating`);
      if (fs.existsSync(t.mountPath) && mountsUnder(t.mountPath).length === 0) fs.rmSync(t.mountPath, { recursive: true, force: true });
    } catch (e) {
      if (e instanceof VzError) throw e;
      throw systemError(`cannot remove the private area ${t.privatePath}`, e, { ctid: t.ctid, code: 'DEL_PRIVATE' });
    }
  }

  exists(t: StorageTarget): boolean {
    return fs.existsSync(imagePath(t));
  }

  mount(t: StorageTarget): void {
    if (this.isMounted(t)) return;
    const img = imagePath(t);
    if (!fs.existsSync(img)) throw new VzError('CANT_MOUNT', `no image ${img}`, { ctid: t.ctid });
    this.refuseIfInUse(t, img);
    fs.mkdirSync(t.mountPath, { recursive: true, mode: 0o755 });
    try {
      withLoop(img, (dev) => mountExt4(dev, t.mountPath));
    } catch (e) {
      throw systemError(`cannot mount ${img} on ${t.mountPath}`, e, { ctid: t.ctid, code: 'CANT_MOUNT' });
    }
  }

  unmount(t: StorageTarget): void {
    this.unmountAt(t.mountPath, imagePath(t), t.ctid);
  }

  isMounted(t: StorageTarget): boolean {
    return listMounts().some((m) => m.mountPoint === t.mountPath);
  }

  /** syncfs of the mounted file system: its journal and data reach root.img (a migration copies that file). */
  flush(t: StorageTarget): void {
    if (!this.isMounted(t)) return;
    const r = childProcess().spawnSync('sync', ['--file-system', t.mountPath], { encoding: 'utf8' });
    if (r.status !== 0) throw new VzError('SYSTEM', `syncfs ${t.mountPath}: ${(r.stderr ?? '').trim()}`, { ctid: t.ctid });
  }

  /**
   * Used and total blocks/inodes of the file system (statfs). An unmounted image is mounted
   * read-only for the moment (a few ms): dumpe2fs's counts include the journal and other
   * metadata, which statfs leaves out, so the two would not agree.
   */
  usage(t: StorageTarget): DiskUsage {
    if (!this.exists(t)) return { bytes: 0, inodes: 0 };
    if (this.isMounted(t)) return statUsage(t.mountPath);
    return this.withTempMount(t, MS_RDONLY, (dir) => statUsage(dir));
  }

  /** The image file's size and the file system's inode count (statfs when mounted: current). */
  geometry(t: StorageTarget): { sizeBytes: number; inodes: number } {
    const img = imagePath(t);
    if (!fs.existsSync(img)) throw new VzError('NO_PRIVATE', `no image ${img}`, { ctid: t.ctid });
    const sizeBytes = fs.statSync(img).size;
    const inodes = this.isMounted(t) ? fs.statfsSync(t.mountPath).files : dumpe2fs(img).inodeCount;
    return { sizeBytes, inodes };
  }

  /**
   * Grows online (the file, then LOOP_SET_CAPACITY, then resize2fs on the mounted device) or
   * offline; shrinks only offline (e2fsck -f, then resize2fs, then truncate the file).
   */
  resize(t: StorageTarget, bytes: number): void {
    const size = checkSize(bytes);
    const img = imagePath(t);
    if (!fs.existsSync(img)) throw new VzError('NO_PRIVATE', `no image ${img}`, { ctid: t.ctid });
    const cur = fs.statSync(img).size;
    if (size === cur) return;
    const mounted = this.isMounted(t);
    if (size < cur) {
      if (mounted) throw new VzError('INVALID', `cannot shrink a mounted image (${t.privatePath}): stop the container first`, { ctid: t.ctid });
      this.refuseIfInUse(t, img);
      run('e2fsck', ['-f', '-p', img], 'SYSTEM', `cannot check ${img}`, [0, 1]);
      const info = dumpe2fs(img);
      const min = Number(/minimum size of the filesystem:\s*(\d+)/.exec(run('resize2fs', ['-P', img], 'SYSTEM', `cannot size ${img}`))?.[1] ?? NaN);
      const want = size / info.blockSize;
      if (!(want >= min)) {
        const used = Math.ceil(((info.blockCount - info.freeBlocks) * info.blockSize) / MiB);
        throw new VzError('INVALID', `cannot shrink ${t.privatePath} to ${Math.floor(size / MiB)} MiB: ${used} MiB are in use (at least ${Math.ceil((min * info.blockSize) / MiB)} MiB needed)`, { ctid: t.ctid });
      }
      run('resize2fs', [img, `${size / 1024}K`], 'SYSTEM', `cannot shrink ${img}`);
      fs.truncateSync(img, size);
      return;
    }
    // Grow.
    if (mounted && !hasCapSysResource()) {
      throw new VzError('UNSUPPORTED', `cannot grow the mounted image ${t.privatePath}: online resize needs CAP_SYS_RESOURCE, which vzkit lacks here`, {
        ctid: t.ctid,
        hint: 'stop the container and resize it again (offline resize works without it)',
      });
    }
    fs.truncateSync(img, size);
    try {
      if (mounted) {
        const dev = listMounts().find((m) => m.mountPoint === t.mountPath)?.source;
        if (!dev?.startsWith('/dev/loop')) throw new VzError('SYSTEM', `${t.mountPath} is not mounted from a loop device`);
        setCapacity(dev);
        run('resize2fs', [dev], 'SYSTEM', `cannot grow ${img}`);
      } else {
        this.refuseIfInUse(t, img);
        run('e2fsck', ['-f', '-p', img], 'SYSTEM', `cannot check ${img}`, [0, 1]);
        run('resize2fs', [img, `${size / 1024}K`], 'SYSTEM', `cannot grow ${img}`);
      }
    } catch (e) {
      // The file system did not grow: give the file its old size back.
      try {
        fs.truncateSync(img, cur);
        if (mounted) {
          const dev = listMounts().find((m) => m.mountPoint === t.mountPath)?.source;
          if (dev) setCapacity(dev);
        }
      } catch {
        /* keep the first error */
      }
      throw e;
    }
  }

  /** fstrim through the loop device: the kernel punches the freed blocks out of the file. */
  compact(t: StorageTarget): CompactResult {
    const img = imagePath(t);
    if (!fs.existsSync(img)) throw new VzError('NO_PRIVATE', `no image ${img}`, { ctid: t.ctid });
    const before = dirSize(fs.statSync(img));
    const trim = (dir: string) => {
      // Blocks of deleted files are free for fstrim only once their transaction has committed.
      run('sync', ['-f', dir], 'SYSTEM', `cannot sync ${dir}`);
      run('fstrim', [dir], 'SYSTEM', `cannot trim ${dir}`);
    };
    if (this.isMounted(t)) trim(t.mountPath);
    else this.withTempMount(t, 0, trim);
    const after = dirSize(fs.statSync(img));
    return { bytesBefore: before, bytesAfter: after, bytesFreed: Math.max(0, before - after) };
  }

  // --- helpers ---

  /** Refuses when a loop device bound to the image is mounted (two mounts of one ext4 corrupt it). */
  private refuseIfInUse(t: StorageTarget, img: string): void {
    const loops = findLoopsFor(img);
    if (loops.length === 0) return;
    const mounts = listMounts();
    for (const d of loops) {
      const m = mounts.find((x) => x.source === d);
      if (m) throw new VzError('MOUNTED', `${img} is in use: ${d} is mounted on ${m.mountPoint}`, { ctid: t.ctid });
    }
    releaseLoops(img, 0);
    if (findLoopsFor(img).length) throw new VzError('CANT_MOUNT', `${img} is still attached to ${findLoopsFor(img).join(', ')}`, { ctid: t.ctid });
  }

  private withTempMount<T>(t: StorageTarget, flags: number, fn: (dir: string) => T): T {
    const img = imagePath(t);
    this.refuseIfInUse(t, img);
    const dir = path.join(t.privatePath, 'mnt.tmp');
    if (mountsUnder(dir).length) unmountTree(dir);
    fs.mkdirSync(dir, { recursive: true });
    try {
      try {
        withLoop(img, (dev) => mountExt4(dev, dir, flags));
      } catch (e) {
        throw systemError(`cannot mount ${img} on ${dir}`, e, { ctid: t.ctid, code: 'CANT_MOUNT' });
      }
      try {
        return fn(dir);
      } finally {
        this.unmountAt(dir, img, t.ctid);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  private unmountAt(dir: string, img: string, ctid: number): void {
    try {
      unmountTree(dir);
    } catch (e) {
      throw systemError(`cannot unmount ${dir}`, e, { ctid, code: 'CANT_UMOUNT' });
    }
    if (mountsUnder(dir).length) throw new VzError('CANT_UMOUNT', `${dir} is still mounted`, { ctid });
    releaseLoops(img);
  }

  /** Unmounts whatever is below a private dir and frees its image's loop devices. */
  private releaseDir(dir: string): void {
    if (mountsUnder(dir).length) unmountTree(dir);
    releaseLoops(path.join(dir, IMAGE_FILE), 0);
  }

  /** releaseDir, then removes it: never rm -r through a mount. */
  private clearDir(dir: string): void {
    if (!fs.existsSync(dir)) return;
    this.releaseDir(dir);
    if (mountsUnder(dir).length) throw new VzError('CANT_UMOUNT', `${dir} is still mounted`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function statUsage(dir: string): DiskUsage {
  const s = fs.statfsSync(dir);
  return {
    bytes: (s.blocks - s.bfree) * s.bsize,
    inodes: s.files - s.ffree,
    limitBytes: s.blocks * s.bsize,
    limitInodes: s.files,
  };
}
