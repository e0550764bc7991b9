/**
 * The iproute2 driver: one `ip -batch -` per namespace and step, so a start costs two execs
 * (host, container) whatever the number of addresses. The container's namespace is entered
 * with nsenter --net only: the commands run as host root, from the host's binaries and files.
 */
import fs from 'node:fs';
import { childProcess } from '../sys/childproc.js';
import { VzError } from '../base/errors.js';

let ipPath: string | undefined;

/** iproute2's ip, absolute (the monitor execs it without a PATH search). */
export function ipCmd(): string {
  if (ipPath) return ipPath;
  for (const p of ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']) {
    if (fs.existsSync(p)) return (ipPath = p);
  }
  throw new VzError('SYSTEM', 'iproute2 (ip) is not installed', { hint: 'apt-get install iproute2' });
}

function nsenterCmd(): string {
  for (const p of ['/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter']) if (fs.existsSync(p)) return p;
  throw new VzError('SYSTEM', 'nsenter (util-linux) is not installed', { hint: 'apt-get install util-linux' });
}

export interface BatchOptions {
  /** Run inside the network namespace of this (host) pid. */
  netnsPid?: number;
  /** -force: go on after a failed line (cleanup), exit status still reports it. */
  force?: boolean;
  ctid?: number;
  what: string;
}

/**
 * What iproute2's batch reader would treat as more than plain words: quotes, '#' comments, a
 * backslash (line continuation) and any control character, a newline above all (a second
 * command). Our commands are words of names, addresses and numbers; `$P` is the pid that the
 * CRIU hook's shell puts in (the only expansion allowed there).
 */
const BATCH_LINE = /^[A-Za-z0-9 ._:/+-]+$/;

/** Throws unless every line is a plain ip/tc batch command; returns the batch text. */
export function batchText(cmds: string[], what: string, opts: { ctid?: number; shellPid?: boolean } = {}): string {
  for (const line of cmds) {
    const plain = opts.shellPid ? line.replace(/\$P\b/g, '0') : line;
    if (!BATCH_LINE.test(plain)) {
      throw new VzError('INVALID', `${what}: refused a command with characters that are not allowed in it: ${JSON.stringify(line)}`, { ctid: opts.ctid });
    }
  }
  return cmds.join('\n') + '\n';
}

/** Runs the commands; throws a one-line VzError with ip's own message on failure (unless force). */
export function ipBatch(cmds: string[], o: BatchOptions): { ok: boolean; stderr: string } {
  if (cmds.length === 0) return { ok: true, stderr: '' };
  const input = batchText(cmds, o.what, { ctid: o.ctid });
  if (o.netnsPid !== undefined && sameNetns(o.netnsPid)) {
    // Never let a container's commands (its default route...) land on the host.
    throw new VzError('SYSTEM', `${o.what}: process ${o.netnsPid} is not in a network namespace of its own`, { ctid: o.ctid });
  }
  const ipArgs = [...(o.force ? ['-force'] : []), '-batch', '-'];
  const [file, args] = o.netnsPid === undefined ? [ipCmd(), ipArgs] : [nsenterCmd(), [`--net=/proc/${o.netnsPid}/ns/net`, ipCmd(), ...ipArgs]];
  const t0 = performance.now();
  const r = childProcess().spawnSync(file, args, { input, encoding: 'utf8', stdio: ['pipe', 'ignore', 'pipe'] });
  if (process.env.VZKIT_TIMING) process.stderr.write(`net: ${o.what}: ${cmds.length} commands in ${(performance.now() - t0).toFixed(2)} ms\n`);
  const stderr = r.stderr ?? '';
  const ok = r.status === 0;
  if (!ok && !o.force) {
    const lines = stderr.split('\n').filter(Boolean);
    // ip prints "Error: ..." (or "RTNETLINK answers: ...") then "Command failed -:N".
    const failed = /Command failed -:(\d+)/.exec(stderr);
    const line = failed ? cmds[Number(failed[1]) - 1] : undefined;
    const msg = lines.find((l) => !/^Command failed/.test(l)) ?? r.error?.message ?? `exit ${r.status}`;
    throw new VzError('SYSTEM', `${o.what}: ${msg}${line ? ` (ip ${line})` : ''}`, { ctid: o.ctid });
  }
  return { ok, stderr };
}

function sameNetns(pid: number): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`) === fs.readlinkSync('/proc/self/ns/net');
  } catch {
    return false; // gone: nsenter fails on its own
  }
}

/**
 * Host interface existence from /proc/self/net/dev, which shows this process's network
 * namespace. Not /sys/class/net: sysfs shows the namespace of whoever mounted it, which is not
 * ours under `nsenter --net` (a second node in a namespace, as in the migration tests).
 */
export function linkExists(name: string): boolean {
  try {
    return fs.readFileSync('/proc/self/net/dev', 'utf8').split('\n').some((l) => l.trimStart().startsWith(`${name}:`));
  } catch {
    return false;
  }
}

export function isBridge(name: string): boolean {
  if (!linkExists(name)) return false;
  const r = childProcess().spawnSync('ip', ['-j', '-d', 'link', 'show', 'dev', name], { encoding: 'utf8' });
  try {
    return (JSON.parse(r.stdout) as Array<{ linkinfo?: { info_kind?: string } }>)[0]?.linkinfo?.info_kind === 'bridge';
  } catch {
    return false;
  }
}
