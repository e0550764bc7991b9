/**
 * LXCFS (Debian's lxcfs): a FUSE file system whose /proc/meminfo, cpuinfo, stat, uptime, loadavg,
 * diskstats, swaps and /sys/.../cpu/online answer with the reading container's limits and usage,
 * as LXC and Proxmox use it. vzkit starts it when it is not running and bind-mounts its files
 * over the container's own at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { childProcess } from './childproc.js';
import { listMounts } from './mounts.js';
import { sleepMs } from './lock.js';

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

/** Starts lxcfs if it is installed and not running; returns whether it is usable. */
export function ensureLxcfs(): boolean {
  if (lxcfsMounted()) return true;
  if (!fs.existsSync(LXCFS_BIN)) return false;
  fs.mkdirSync(LXCFS_DIR, { recursive: true });
  // -l: per-container load average; --enable-cfs: CPU counts from quotas too; it daemonizes.
  const r = childProcess().spawnSync(LXCFS_BIN, ['-l', '--enable-cfs', '--enable-pidfd', '-p', '/run/lxcfs.pid', LXCFS_DIR], {
    stdio: 'ignore',
    timeout: 10_000,
  });
  if (r.status !== 0) return false;
  for (let i = 0; i < 200 && !lxcfsMounted(); i++) sleepMs(10);
  return lxcfsMounted();
}

/** Bind mounts for a container: [source on the host, target inside the container]. */
export function lxcfsBinds(): Array<[string, string]> {
  if (!ensureLxcfs()) return [];
  return FILES.map((f) => [path.join(LXCFS_DIR, f), `/${f}`] as [string, string]).filter(([src]) => fs.existsSync(src));
}
