/**
 * The container's own network files, as its distro expects them: /etc/hosts (its host name on
 * its first address) and /etc/resolv.conf. Written from the host, so every write goes through
 * rootwrite (openat2 RESOLVE_IN_ROOT): a symlink the container planted resolves inside its root.
 * busybox: these two files (interfaces are configured from the host before init runs). A distro
 * with its own network scripts (Debian, next) adds its interface files here.
 */
import fs from 'node:fs';
import { openInRoot } from '../sys/rootwrite.js';
import { VzError } from '../core/errors.js';
import { parseIp } from './addr.js';
import type { NetConfig } from './config.js';

const MARK = '# vzkit';

export interface Owner {
  uid: number;
  gid: number;
}

/** The address the host name resolves to: the first routed one, else the first bridged one. */
export function primaryAddress(c: NetConfig): string | undefined {
  const first = c.routed[0] ?? c.netifs.find((n) => n.ip.length)?.ip[0];
  return first === undefined ? undefined : parseIp(first).addr;
}

/** Keeps the admin's own lines, replaces vzkit's (marked) line, makes sure localhost is there. */
export function hostsContent(old: string | undefined, hostname: string | undefined, c: NetConfig): string {
  const lines = (old ?? '').split('\n').filter((l) => l !== '' && !l.endsWith(MARK));
  if (!lines.some((l) => /^\s*127\.0\.0\.1\s/.test(l))) lines.unshift('127.0.0.1\tlocalhost');
  if (!lines.some((l) => /^\s*::1\s/.test(l))) lines.splice(1, 0, '::1\tlocalhost');
  const ip = primaryAddress(c);
  if (hostname) {
    const short = hostname.split('.')[0]!;
    const names = short === hostname ? hostname : `${hostname} ${short}`;
    lines.push(`${ip ?? '127.0.1.1'}\t${names}\t${MARK}`);
  }
  return lines.join('\n') + '\n';
}

/** The host's own resolvers, without loopback ones (a stub resolver on the host is not reachable inside). */
export function hostResolvers(file = '/etc/resolv.conf'): { nameservers: string[]; search: string[] } {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    // no resolv.conf on the host: nothing to inherit
  }
  const nameservers: string[] = [];
  let search: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'nameserver' && f[1] && !/^127\.|^::1$/.test(f[1])) nameservers.push(f[1]);
    if ((f[0] === 'search' || f[0] === 'domain') && f.length > 1) search = f.slice(1);
  }
  return { nameservers, search };
}

export function resolvContent(c: NetConfig): string | undefined {
  if (c.nameserver === undefined && c.searchdomain === undefined) return undefined;
  const host = c.nameserver === 'inherit' ? hostResolvers() : undefined;
  const ns = host ? host.nameservers : (c.nameserver ?? []);
  const search = c.searchdomain ?? host?.search ?? [];
  const lines = [`${MARK}: written by vzctl set --nameserver/--searchdomain`];
  if (search.length) lines.push(`search ${search.join(' ')}`);
  for (const n of ns) lines.push(`nameserver ${n}`);
  return lines.join('\n') + '\n';
}

/**
 * openat2(RESOLVE_IN_ROOT) plus O_NONBLOCK and a regular-file check: the container may have
 * made the file a FIFO or a device node, which would block or misdirect a plain open.
 */
function openRegular(root: string, rel: string, flags: number): number | undefined {
  let fd: number;
  try {
    fd = openInRoot(root, rel, flags | fs.constants.O_NONBLOCK, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !(flags & fs.constants.O_CREAT)) return undefined;
    // O_WRONLY|O_NONBLOCK on a FIFO without a reader.
    if (code === 'ENXIO') throw new VzError('SYSTEM', `/${rel} in the container is not a regular file: not written`);
    throw new VzError('SYSTEM', `cannot open /${rel} in the container: ${(e as Error).message}`);
  }
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    throw new VzError('SYSTEM', `/${rel} in the container is not a regular file: not written`);
  }
  return fd;
}

export function readGuestFile(root: string, rel: string): string | undefined {
  const fd = openRegular(root, rel, fs.constants.O_RDONLY);
  if (fd === undefined) return undefined;
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether `rel` is a directory inside the root (resolved there, never following out of it). */
function readGuestDir(root: string, rel: string): boolean {
  try {
    const fd = openInRoot(root, rel, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    fs.closeSync(fd);
    return true;
  } catch {
    return false;
  }
}

export function writeGuestFile(root: string, rel: string, content: string, owner: Owner): void {
  const fd = openRegular(root, rel, fs.constants.O_WRONLY | fs.constants.O_CREAT)!;
  try {
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, content);
    fs.fchownSync(fd, owner.uid, owner.gid);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Debian's ifupdown: the interfaces are configured from the host before init runs, so they are
 * declared "manual" (no `auto`): networking.service leaves them alone instead of failing on
 * addresses that are already there, and `ifquery --list --allow=vzkit` names them.
 */
export function ifupdownContent(c: NetConfig): string {
  const lines = ['# vzkit: written at every start and change. These interfaces are configured from the host', '# (addresses, routes); ifupdown must not touch them. Change them with vzctl set --ipadd/--netif_add.'];
  const names = [...(c.routed.length ? ['venet0'] : []), ...c.netifs.map((n) => n.ifname)];
  for (const n of names) lines.push(`allow-vzkit ${n}`, `iface ${n} inet manual`);
  return lines.join('\n') + '\n';
}

/** Writes /etc/hosts and (when configured) /etc/resolv.conf into the mounted root. */
export function writeGuestFiles(root: string, hostname: string | undefined, c: NetConfig, owner: Owner): string[] {
  const written: string[] = [];
  const hosts = hostsContent(readGuestFile(root, 'etc/hosts'), hostname, c);
  writeGuestFile(root, 'etc/hosts', hosts, owner);
  written.push('/etc/hosts');
  if (readGuestFile(root, 'etc/network/interfaces') !== undefined && readGuestDir(root, 'etc/network/interfaces.d')) {
    writeGuestFile(root, 'etc/network/interfaces.d/vzkit', ifupdownContent(c), owner);
    written.push('/etc/network/interfaces.d/vzkit');
  }
  const resolv = resolvContent(c);
  if (resolv !== undefined) {
    writeGuestFile(root, 'etc/resolv.conf', resolv, owner);
    written.push('/etc/resolv.conf');
  }
  return written;
}
