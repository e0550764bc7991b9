/**
 * LXCFS (Debian's lxcfs): a FUSE file system whose /proc/meminfo, cpuinfo, stat, uptime, loadavg,
 * diskstats, swaps and /sys/.../cpu/online answer with the reading container's limits and usage,
 * as LXC and Proxmox use it. vzkit starts it when it is not running and bind-mounts its files
 * over the container's own at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { childProcess } from './childproc.js';
import { listMounts, umount } from './mounts.js';
import { sleepMs } from './sleep.js';

export const LXCFS_DIR = process.env.VZKIT_LXCFS_DIR ?? '/var/lib/lxcfs';
const LXCFS_BIN = '/usr/bin/lxcfs';

/** The files a container gets from LXCFS, as paths relative to the LXCFS mount and to its root. */
const FILES = [
  'proc/cpuinfo',
  'proc/diskstats',
  'proc/loadavg',
  'proc/meminfo',
  'proc/stat',
  'proc/swaps',
  'proc/uptime',
  'proc/slabinfo',
  'sys/devices/system/cpu/online',
];

export function lxcfsMounted(): boolean {
  return listMounts().some((m) => m.mountPoint === LXCFS_DIR && m.fsType === 'fuse.lxcfs');
}

/** Mounted and answering: a FUSE mount whose daemon died answers ENOTCONN. */
function lxcfsAlive(): boolean {
  if (!lxcfsMounted()) return false;
  try {
    fs.statSync(path.join(LXCFS_DIR, 'proc/meminfo'));
    return true;
  } catch {
    return false;
  }
}

/** Starts lxcfs if it is installed and not running; returns whether it is usable. */
export function ensureLxcfs(): boolean {
  if (lxcfsAlive()) return true;
  if (!fs.existsSync(LXCFS_BIN)) return false;
  if (lxcfsMounted()) umount(LXCFS_DIR, true); // left behind by a daemon that died
  fs.mkdirSync(LXCFS_DIR, { recursive: true });
  // -l: per-container load average; --enable-cfs: CPU counts from quotas too. lxcfs 5 stays
  // in the foreground: run it in its own session, detached from this command.
  const child = childProcess().spawn(LXCFS_BIN, ['-l', '--enable-cfs', '--enable-pidfd', '-p', '/run/lxcfs.pid', LXCFS_DIR], {
    stdio: 'ignore',
    detached: true,
  });
  child.unref();
  for (let i = 0; i < 300 && !lxcfsAlive(); i++) sleepMs(10);
  return lxcfsAlive();
}

/** Bind mounts for a container: [source on the host, target inside the container]. */
export function lxcfsBinds(): Array<[string, string]> {
  if (!ensureLxcfs()) return [];
  return FILES.map((f) => [path.join(LXCFS_DIR, f), `/${f}`] as [string, string]).filter(([src]) => fs.existsSync(src));
}
