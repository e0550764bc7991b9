/**
 * The container's own network files, as its distro expects them: /etc/hosts (its host name on
 * its first address) and /etc/resolv.conf. Written from the host, so every write goes through
 * rootwrite (openat2 RESOLVE_IN_ROOT, regular files only, size-capped, replaced atomically): a
 * symlink the container planted resolves inside its root, a FIFO is refused.
 * busybox: these two files (interfaces are configured from the host before init runs). A distro
 * with its own network scripts (Debian, next) adds its interface files here.
 */
import fs from 'node:fs';
import { readFileInRoot, statInRoot, writeFileInRoot } from '../sys/rootwrite.js';
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

export function readGuestFile(root: string, rel: string): string | undefined {
  return readFileInRoot(root, rel);
}

/** Whether `rel` is a directory inside the root (resolved there, never following out of it). */
function readGuestDir(root: string, rel: string): boolean {
  try {
    return statInRoot(root, rel)?.isDirectory() ?? false;
  } catch {
    return false;
  }
}

/** Replaced atomically; a new file is the container root's, 0644 (rootwrite keeps an old one's owner and mode). */
export function writeGuestFile(root: string, rel: string, content: string, owner: Owner): void {
  writeFileInRoot(root, rel, content, { uid: owner.uid, gid: owner.gid, mode: 0o644 });
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
