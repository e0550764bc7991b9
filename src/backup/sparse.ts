/**
 * Large sparse files in suspend mode. rsync -S writes holes, but its sender reads every hole as
 * zeros and pipes them to its receiver: a 30 GiB file with no blocks took 116 s (2.3 s in stop
 * mode, where tar --sparse seeks over them). So before each rsync pass the sparse files are
 * copied hole by hole (GNU cp --sparse=always: SEEK_DATA/SEEK_HOLE, only the data is read) with
 * their timestamps; rsync's quick check (size and mtime) then finds them up to date and only
 * sets their owners, modes, ACLs and xattrs. A file this misses (renamed, grown sparse between
 * the passes, a name that is not UTF-8) is still copied, whole, by rsync.
 *
 * The tree is the tenant's: a file is opened through openat2 inside the container's root
 * (no symlink or magic link leads out, no other mount is entered: rsync's --one-file-system),
 * non-blocking and checked to be a regular file, and cp gets it as an inherited fd. In the staging dir (ours; nothing else writes there while we do),
 * parents must be real directories and the target is created new, never followed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { childProcess } from '../sys/childproc.js';
import { openInRoot } from '../sys/rootwrite.js';
import { VzError } from '../base/errors.js';
import { finished } from './rsync.js';

/** Holes smaller than this are not worth a cp of their own (rsync reads 4 MiB in a few ms). */
export const MIN_HOLE = 4 * 1024 * 1024;
/** At most this many files, the largest holes first (each costs a cp). */
export const MAX_FILES = 512;
const MAX_LIST = 16 * 1024 * 1024;

/** Regular files under `root` (one file system) whose holes add up to MIN_HOLE or more, as relative paths. */
export async function findSparse(root: string, signal?: AbortSignal): Promise<string[]> {
  const p = childProcess().spawn('find', [root, '-xdev', '-type', 'f', '-size', `+${MIN_HOLE / 1024}k`, '-printf', '%b %s %P\\0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  let len = 0;
  p.stdout!.on('data', (d: Buffer) => {
    if (len > MAX_LIST) return void p.kill('SIGKILL'); // a tree built to flood the list: what we have will do
    chunks.push(d);
    len += d.length;
  });
  const { error } = await finished(p, signal);
  if (signal?.aborted) throw new VzError('SYSTEM', 'backup aborted');
  // Exit 1 (a file vanished under find in a live tree) still lists the rest; a missing find lists nothing.
  if (error) return [];
  const found: Array<{ rel: string; hole: number }> = [];
  for (const rec of Buffer.concat(chunks).toString('utf8').split('\0')) {
    const m = /^(\d+) (\d+) (.+)$/s.exec(rec);
    if (!m) continue;
    const hole = Number(m[2]) - Number(m[1]) * 512;
    const rel = m[3]!;
    if (hole >= MIN_HOLE && !rel.includes('\uFFFD') && rel.split('/').every((c) => c !== '' && c !== '.' && c !== '..')) found.push({ rel, hole });
  }
  return found
    .sort((a, b) => b.hole - a.hole)
    .slice(0, MAX_FILES)
    .map((f) => f.rel);
}

/** Copies each of `rels` from `root` to `staging` unless the staging copy has its size and mtime already. */
export async function copySparse(root: string, staging: string, rels: string[], signal?: AbortSignal): Promise<void> {
  const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW, O_WRONLY, O_CREAT, O_EXCL } = fs.constants;
  for (const rel of rels) {
    if (signal?.aborted) throw new VzError('SYSTEM', 'backup aborted');
    let src: number;
    try {
      src = openInRoot(root, rel, O_RDONLY | O_NONBLOCK | O_NOFOLLOW, 0, { noXdev: true });
    } catch {
      continue; // gone, or no longer a plain path: rsync sees what is there now
    }
    try {
      const st = fs.fstatSync(src, { bigint: true });
      if (!st.isFile() || !realParents(staging, rel)) continue;
      const dst = path.join(staging, rel);
      const cur = fs.lstatSync(dst, { bigint: true, throwIfNoEntry: false });
      if (cur?.isFile() && cur.size === st.size && cur.mtimeNs === st.mtimeNs) continue;
      if (cur?.isDirectory()) continue;
      if (cur) fs.unlinkSync(dst); // maybe hard-linked to another name by rsync: never write through it
      const out = fs.openSync(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      let ok = false;
      try {
        const cp = childProcess().spawn('cp', ['--sparse=always', '--preserve=timestamps', '/proc/self/fd/3', '/proc/self/fd/4'], {
          stdio: ['ignore', 'ignore', 'pipe', src, out],
        });
        const r = await finished(cp, signal);
        if (signal?.aborted) throw new VzError('SYSTEM', 'backup aborted');
        if (r.code !== 0 && /No space left|Disk quota/.test(r.stderr)) throw new VzError('NO_SPACE', `cannot copy ${rel} to the staging dir: ${r.stderr.trim().split('\n').pop()}`);
        ok = r.code === 0;
      } finally {
        fs.closeSync(out);
        if (!ok) fs.rmSync(dst, { force: true }); // rsync copies it instead
      }
    } finally {
      fs.closeSync(src);
    }
  }
}

/** Makes the parents of `rel` in `dir` (0700; rsync sets their owners and modes); false if one is not a real directory. */
function realParents(dir: string, rel: string): boolean {
  let cur = dir;
  for (const c of path.dirname(rel).split('/').filter((x) => x !== '.')) {
    cur = path.join(cur, c);
    const st = fs.lstatSync(cur, { throwIfNoEntry: false });
    if (!st) fs.mkdirSync(cur, { mode: 0o700 });
    else if (!st.isDirectory()) return false;
  }
  return true;
}
