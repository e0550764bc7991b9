/**
 * The archive itself: GNU tar (numeric owners, xattrs, POSIX ACLs, sparse files; hard links are
 * tar's default) piped through zstd or gzip. Members, in this order:
 *   vzdump.yaml      the container's config and what the backup was (manifest.ts)
 *   checkpoint/...   a CRIU checkpoint, when the backup is stateful
 *   root/...         the container's files, owners as the container sees them
 * Directories are handed to tar as inherited fds (/proc/self/fd/N): tar runs in the container's
 * user namespace and could not walk the root-only host paths above them.
 */
import fs from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { childProcess } from '../sys/childproc.js';
import { VzError, systemError } from '../base/errors.js';
import type { Compression } from './names.js';
import type { UserNs } from './userns.js';
import { YAML_LIMITS } from '../config/yamlfile.js';

export const MANIFEST_MEMBER = 'vzdump.yaml';
export const CHECKPOINT_MEMBER = 'checkpoint';
export const ROOT_MEMBER = 'root';

const COMMON = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls'];

function compressor(c: Compression): string[] | undefined {
  if (c === 'zstd') return ['zstd', '-q', '-T0', '-3', '-c'];
  if (c === 'gzip') return ['gzip', '-c', '-6'];
  return undefined;
}

function decompressFlag(c: Compression): string[] {
  if (c === 'zstd') return ['-I', 'zstd -d -q'];
  if (c === 'gzip') return ['-z'];
  return [];
}

export interface WriteArchiveOptions {
  /** Holds vzdump.yaml and, for a stateful backup, checkpoint/. */
  metaDir: string;
  hasCheckpoint: boolean;
  /** The container's root tree. */
  rootDir: string;
  ns: UserNs;
  compression: Compression;
  /** The file to write (created new; removed by the caller on failure). */
  out: string;
  /** Uncompressed bytes out of tar so far. */
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
}

export interface WriteArchiveResult {
  bytes: number; // archive file size
  rawBytes: number; // tar stream size
  sha256: string;
  warnings: string[];
}

/** The line of a tool's stderr that says what went wrong (not tar's closing "Exiting with failure status"). */
function lastLine(s: string): string {
  const lines = s.trim().split('\n').filter(Boolean);
  const real = lines.filter((l) => !/Exiting with failure status|Error is not recoverable|Child returned status/.test(l));
  return (real.length ? real : lines).pop() ?? '';
}

function waitExit(p: ChildProcess, name: string, stderr: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    p.once('error', (e) => reject(new VzError('SYSTEM', `cannot run ${name}: ${e.message}`)));
    p.once('close', (code, sig) => resolve(code ?? (sig ? 128 : 1)));
    void stderr;
  });
}

export async function writeArchive(o: WriteArchiveOptions): Promise<WriteArchiveResult> {
  const cp = childProcess();
  const metaFd = fs.openSync(o.metaDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const rootFd = fs.openSync(o.rootDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const children: ChildProcess[] = [];
  const abort = () => children.forEach((c) => c.kill('SIGKILL'));
  o.signal?.addEventListener('abort', abort);
  try {
    const members = [MANIFEST_MEMBER, ...(o.hasCheckpoint ? [CHECKPOINT_MEMBER] : [])];
    const argv = o.ns.wrap([
      'tar', '-c', '-f', '-', ...COMMON, '--sparse', '--one-file-system',
      // "./x" -> "root/x"; symlink targets (S) stay as they are. Hard link targets follow.
      '--transform', 's,^\\./,root/,S', '--transform', 's,^\\.$,root,S',
      '-C', '/proc/self/fd/3', ...members, '-C', '/proc/self/fd/4', '.',
    ]);
    const tar = cp.spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe', metaFd, rootFd] });
    children.push(tar);
    let tarErr = '';
    tar.stderr!.on('data', (d) => (tarErr += String(d)).length > 65536 && (tarErr = tarErr.slice(-8192)));
    let raw = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _e, cb) {
        raw += chunk.length;
        o.onBytes?.(raw);
        cb(null, chunk);
      },
    });
    const hash = createHash('sha256');
    let size = 0;
    const hasher = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    const file = fs.createWriteStream(o.out, { flags: 'wx', mode: 0o600 });
    const comp = compressor(o.compression);
    const exits: Array<Promise<[string, number, () => string]>> = [];
    exits.push(waitExit(tar, 'tar', () => tarErr).then((c) => ['tar', c, () => tarErr]));
    const flows: Promise<void>[] = [];
    if (comp) {
      const z = cp.spawn(comp[0]!, comp.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      children.push(z);
      let zErr = '';
      z.stderr!.on('data', (d) => (zErr += String(d)));
      exits.push(waitExit(z, comp[0]!, () => zErr).then((c) => [comp[0]!, c, () => zErr]));
      flows.push(pipeline(tar.stdout!, counter, z.stdin!));
      flows.push(pipeline(z.stdout!, hasher, file));
    } else {
      flows.push(pipeline(tar.stdout!, counter, hasher, file));
    }
    const flowResults = await Promise.allSettled(flows);
    const codes = await Promise.all(exits);
    if (o.signal?.aborted) throw new VzError('SYSTEM', 'backup aborted');
    // A write error (full disk) is the cause; the tools then die of a broken pipe.
    for (const r of flowResults) {
      if (r.status === 'rejected') {
        const e = r.reason as NodeJS.ErrnoException;
        if (e?.code !== 'EPIPE' && e?.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw systemError(`cannot write ${o.out}`, e);
      }
    }
    const warnings: string[] = [];
    for (const [name, code, err] of codes) {
      // tar's exit 1: some file changed while being read; the archive is still whole.
      if (name === 'tar' && code === 1) {
        warnings.push(`tar: ${lastLine(err())}`);
        continue;
      }
      if (code !== 0) {
        const msg = lastLine(err());
        throw new VzError(/No space left/.test(msg) ? 'NO_SPACE' : 'SYSTEM', `${name} failed (exit ${code})${msg ? `: ${msg}` : ''}`);
      }
    }
    for (const r of flowResults) if (r.status === 'rejected') throw systemError(`cannot write ${o.out}`, r.reason);
    return { bytes: size, rawBytes: raw, sha256: hash.digest('hex'), warnings };
  } finally {
    o.signal?.removeEventListener('abort', abort);
    fs.closeSync(metaFd);
    fs.closeSync(rootFd);
  }
}

/** Reads vzdump.yaml out of an archive (the first member: tar stops there). */
export function readManifestText(archive: string, c: Compression): string {
  const r = childProcess().spawnSync('tar', ['-x', '-O', '-f', archive, ...decompressFlag(c), '--occurrence=1', MANIFEST_MEMBER], {
    encoding: 'utf8',
    // Read no further than the YAML limit: tar is killed past it.
    maxBuffer: YAML_LIMITS.maxBytes + 1,
  });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOBUFS') {
    throw new VzError('INVALID', `${archive}: vzdump.yaml is larger than ${YAML_LIMITS.maxBytes} bytes`, { hint: 'the archive was not restored' });
  }
  if (r.status !== 0) {
    throw new VzError('INVALID', `${archive} is not a vzkit backup: ${lastLine(r.stderr || '') || `tar exited ${r.status}`}`);
  }
  return r.stdout;
}

/**
 * Extracts one top-level member (root or checkpoint) into `dir`, synchronously. For root, tar
 * runs in the new container's user namespace, so owners and ACLs land in its uid range.
 */
export function extractMember(archive: string, c: Compression, member: string, dir: string, ns?: UserNs): void {
  const archFd = fs.openSync(archive, 'r');
  const dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const tarArgs = [
      'tar', '-x', '-f', '-', ...decompressFlag(c), ...COMMON, '--same-permissions', '--same-owner',
      '-C', '/proc/self/fd/3',
      '--transform', `s,^${member}/,./,`, '--transform', `s,^${member}$,.,`, member,
    ];
    const argv = ns ? ns.wrap(tarArgs) : tarArgs;
    const r = childProcess().spawnSync(argv[0]!, argv.slice(1), { stdio: [archFd, 'ignore', 'pipe', dirFd], encoding: 'utf8' });
    if (r.status !== 0) {
      const msg = lastLine(r.stderr || '') || r.error?.message || `exit ${r.status}`;
      throw new VzError(/No space left/.test(msg) ? 'NO_SPACE' : 'SYSTEM', `cannot extract ${member}/ from ${archive}: ${msg}`);
    }
  } finally {
    fs.closeSync(archFd);
    fs.closeSync(dirFd);
  }
}

/** Lists the archive's top-level members (for checks: is there a checkpoint?). */
export function hasMember(archive: string, c: Compression, member: string): boolean {
  const r = childProcess().spawnSync('tar', ['-t', '-f', archive, ...decompressFlag(c), '--occurrence=1', `${member}/`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '';
}

/** One line of `tar -tv --numeric-owner`: type, permissions, owner, size (or major,minor), name. */
const LIST_LINE = /^(\S)(\S{9})\s+(\d+)\/(\d+)\s+(\S+)\s+\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)? (.*)$/;
const KINDS: Record<string, string> = { '-': 'file', d: 'directory', l: 'symbolic link', h: 'hard link', c: 'character device', b: 'block device', p: 'FIFO', s: 'socket' };
/** CRIU writes plain files with plain names; vzkit adds vzkit.json. */
const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Refuses a checkpoint/ member that is anything but a plain file (or the directory itself) with
 * a plain name, owned by the container's root (0/0 in the archive), without setuid, setgid or
 * sticky bits. Reads the listing only as far as checkpoint/ goes (it comes before root/).
 */
export async function checkCheckpointMembers(archive: string, c: Compression): Promise<void> {
  const tar = childProcess().spawn('tar', ['-t', '-v', '--numeric-owner', '--quoting-style=escape', '-f', archive, ...decompressFlag(c)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  tar.stderr!.on('data', (d) => (err = (err + String(d)).slice(-4096)));
  const exited = new Promise<number>((resolve) => tar.once('close', (code) => resolve(code ?? 1)));
  const lines = createInterface({ input: tar.stdout! });
  let seen = false;
  let problem: string | undefined;
  let unreadable = false;
  try {
    for await (const line of lines) {
      const m = LIST_LINE.exec(line);
      const name = m ? m[6]!.replace(/ (->|link to) .*$/, '') : line;
      const bare = name.replace(/^(\.?\/)+/, '');
      if (bare !== CHECKPOINT_MEMBER && !bare.startsWith(`${CHECKPOINT_MEMBER}/`)) {
        if (seen) break; // past checkpoint/: root/ follows, nothing more to check
        continue;
      }
      seen = true;
      if (!m) {
        problem = `${name}: an entry tar cannot list plainly`;
        break;
      }
      const [, type, perms, uid, gid] = m as unknown as [string, string, string, string, string];
      const kind = KINDS[type] ?? `"${type}" entry`;
      const file = bare.slice(CHECKPOINT_MEMBER.length + 1);
      if (type === 'd' && file.replace(/\/$/, '') === '') continue;
      if (type !== '-') problem = `${bare}: a ${kind} is not allowed in a checkpoint`;
      else if (!IMAGE_NAME.test(file)) problem = `${bare}: not a plain image file name`;
      else if (/[sStT]/.test(perms)) problem = `${bare}: setuid, setgid or sticky bits are not allowed in a checkpoint`;
      else if (uid !== '0' || gid !== '0') problem = `${bare}: owned by ${uid}:${gid}, not by the container's root`;
      if (problem) break;
    }
  } finally {
    lines.close();
    tar.kill('SIGKILL');
    const code = await exited;
    unreadable = !problem && !seen && code !== 0;
  }
  if (problem) throw new VzError('INVALID', `${archive}: refused: ${problem} (only plain files owned by the container's root)`, { hint: 'the archive was not restored' });
  if (unreadable) throw new VzError('INVALID', `${archive}: cannot list the checkpoint: ${lastLine(err) || 'tar failed'}`);
}
