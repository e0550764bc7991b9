/**
 * Throwaway ext4/XFS file systems on loop devices, mounted with project quotas on - for tests of
 * this module now and of the storage drivers later. Root only.
 *
 * Layout: $TMPDIR/vzkit-qfs-<pid>-XXXXXX/ (mode 0711) holds `fs.img` (sparse) and `mnt/` (the
 * mount point). cleanup() unmounts, detaches the loop device and removes the directory; it runs
 * every step even when an earlier one failed, may be called twice, and throws at the end if
 * something could not be removed. makeLoopFs() undoes its own steps when it fails half way.
 * sweepStaleLoopFs() removes what test processes that died (SIGKILL, crash) left behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { childProcess } from '../../src/sys/childproc.js';
import { getLibc, errnoError } from '../../src/sys/libc.js';
import { VzError } from '../../src/base/errors.js';
import { kernelQuotaGap, parseMountinfo, type QuotaFs } from '../../quota/project.js';
import { sleepMs } from '../../src/sys/sleep.js';

export interface LoopFs {
  kind: QuotaFs;
  /** The mount point (the root of the new file system). */
  dir: string;
  /** The loop device, e.g. /dev/loop3: the quotactl "special" argument. */
  device: string;
  image: string;
  /** The temp dir that holds image and mount point. */
  tmp: string;
  cleanup(): void;
}

export interface LoopFsOptions {
  /** mount(2) data; default "prjquota". Pass "" for a file system mounted without quotas. */
  mountOptions?: string;
  /** Replaces the default mkfs options (the device is appended). */
  mkfsArgs?: string[];
}

const PREFIX = 'vzkit-qfs-';
export const XFS_MIN_MIB = 300; // mkfs.xfs (xfsprogs >= 5.19) refuses smaller file systems

/**
 * mkfs options. ext4: the quota and project features (256-byte inodes hold the project ID;
 * -E quotatype=prjquota makes only the project quota inode, the one -o prjquota enforces),
 * 4 KiB blocks, no root reserve (so df and the limits add up), inode tables written now instead
 * of by a background thread that would keep the loop device busy. XFS: the defaults (v5, crc,
 * 32-bit project IDs) suffice; quotas are switched on by the mount option alone.
 */
export function defaultMkfsArgs(kind: QuotaFs): string[] {
  return kind === 'ext4'
    ? ['mkfs.ext4', '-q', '-F', '-b', '4096', '-I', '256', '-m', '0', '-O', 'quota,project', '-E', 'quotatype=prjquota,lazy_itable_init=0,lazy_journal_init=0']
    : ['mkfs.xfs', '-q', '-f'];
}

function run(argv: string[]): string {
  const r = childProcess().spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    const pkg = argv[0] === 'mkfs.xfs' ? 'xfsprogs' : argv[0]!.startsWith('mkfs.ext') ? 'e2fsprogs' : 'util-linux';
    throw new VzError('SYSTEM', code === 'ENOENT' ? `${argv[0]} not found: apt-get install ${pkg}` : `${argv[0]}: ${r.error.message}`);
  }
  if (r.status !== 0) throw new VzError('SYSTEM', `${argv.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}


function mountPointsUnder(dir: string): string[] {
  const all = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  return all
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts; waits out a short EBUSY (e.g. a writer just exiting), then detaches lazily. */
function unmount(target: string): void {
  const libc = getLibc();
  for (let i = 0; i < 20; i++) {
    if (libc.umount2(target, 0) === 0) return;
    const errno = libc.errno();
    if (errno === os.constants.errno.EINVAL || errno === os.constants.errno.ENOENT) return; // not mounted
    if (errno !== os.constants.errno.EBUSY) throw errnoError('umount2', errno, target);
    sleepMs(50);
  }
  if (libc.umount2(target, 2 /* MNT_DETACH */) !== 0) throw errnoError('umount2', libc.errno(), target);
}

/** Loop devices whose backing file is `file` or lies under `dir` (from sysfs: no losetup parsing). */
export function loopDevicesBackedBy(match: (backing: string) => boolean): string[] {
  const out: string[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync('/sys/block').filter((n) => n.startsWith('loop'));
  } catch {}
  for (const n of names) {
    try {
      const backing = fs.readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').trim().replace(/ \(deleted\)$/, '');
      if (match(backing)) out.push(`/dev/${n}`);
    } catch {} // no backing file: not attached
  }
  return out;
}

function detach(device: string): void {
  run(['losetup', '-d', device]);
}

/** Creates, loop-attaches, formats and mounts a file system of `sizeMiB` MiB. */
export function makeLoopFs(kind: QuotaFs, sizeMiB: number, opts: LoopFsOptions = {}): LoopFs {
  if (kind !== 'ext4' && kind !== 'xfs') throw new VzError('INVALID', `makeLoopFs: unknown file system ${String(kind)}`);
  const min = kind === 'xfs' ? XFS_MIN_MIB : 16;
  if (!Number.isInteger(sizeMiB) || sizeMiB < min) throw new VzError('INVALID', `makeLoopFs: ${kind} needs at least ${min} MiB, got ${sizeMiB}`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}${process.pid}-`));
  fs.chmodSync(tmp, 0o711);
  const image = path.join(tmp, 'fs.img');
  const dir = path.join(tmp, 'mnt');
  let device: string | undefined;
  let done = false;

  const cleanup = (): void => {
    if (done) return;
    const problems: string[] = [];
    try {
      for (const m of mountPointsUnder(tmp)) unmount(m);
    } catch (e) {
      problems.push((e as Error).message);
    }
    // Detach by backing file, not by the name we were given: the number may have been reused.
    for (const d of loopDevicesBackedBy((b) => b === image)) {
      try {
        detach(d);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    if (mountPointsUnder(tmp).length === 0) {
      try {
        fs.rmSync(tmp, { recursive: true, force: true });
      } catch (e) {
        problems.push((e as Error).message);
      }
    } else {
      problems.push(`${tmp} still has mounts; left in place`);
    }
    if (problems.length) throw new Error(`makeLoopFs cleanup of ${tmp}: ${problems.join('; ')}`);
    done = true;
  };

  try {
    const fd = fs.openSync(image, 'wx', 0o600);
    try {
      fs.ftruncateSync(fd, sizeMiB * 1024 * 1024);
    } finally {
      fs.closeSync(fd);
    }
    device = run(['losetup', '-f', '--show', image]).trim();
    run([...(opts.mkfsArgs ?? defaultMkfsArgs(kind)), device]);
    fs.mkdirSync(dir, { mode: 0o755 });
    const data = opts.mountOptions ?? 'prjquota';
    const libc = getLibc();
    if (libc.mount(device, dir, kind, 0, data || null) !== 0) {
      const err = errnoError('mount', libc.errno(), dir);
      const gap = data.includes('quota') ? kernelQuotaGap(kind) : undefined;
      throw new VzError('CANT_MOUNT', `cannot mount ${kind} on ${device} with -o ${data || 'defaults'}: ${err.code}${gap ? ` (${gap})` : ''}`, { cause: err });
    }
  } catch (e) {
    try {
      cleanup();
    } catch {}
    throw e;
  }
  return { kind, dir, device, image, tmp, cleanup };
}

/** Removes loop file systems left by test processes that no longer run. Returns what it removed. */
export function sweepStaleLoopFs(): string[] {
  const removed: string[] = [];
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(PREFIX));
  } catch {}
  for (const n of entries) {
    const pid = Number(/^vzkit-qfs-(\d+)-/.exec(n)?.[1]);
    if (!pid) continue;
    try {
      process.kill(pid, 0);
      continue; // alive: not ours to touch
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    const tmp = path.join(os.tmpdir(), n);
    try {
      for (const m of mountPointsUnder(tmp)) unmount(m);
      for (const d of loopDevicesBackedBy((b) => b.startsWith(tmp + '/'))) detach(d);
      if (mountPointsUnder(tmp).length === 0) fs.rmSync(tmp, { recursive: true, force: true });
      removed.push(tmp);
    } catch {}
  }
  return removed;
}
