/**
 * What changed in a tree since a moment: the list the final sync of an online migration sends,
 * so that the copy made while the container is frozen walks what changed, not the whole tree.
 *
 * An entry changed when its ctime is later than the moment. Nobody inside can set a ctime (the
 * kernel sets it on every change of content, owner, mode, xattr or link count), and a change in
 * a directory's entries (create, delete, rename) moves the directory's ctime, so a changed
 * directory is sent whole and recursively with --delete: a deletion, or a directory renamed in
 * with old children, arrives too. The moment carries a margin for coarse file system clocks.
 */
import { spawn } from 'node:child_process';

/** Beyond this many changed entries, or names, the whole tree is synced as before. */
const MAX_ENTRIES = 20_000;
const MAX_BYTES = 4 << 20;
/** File system timestamps are coarse (a jiffy); a changed entry may carry a slightly older time. */
export const CTIME_MARGIN_S = 2;

/**
 * Paths relative to root, in latin1 (byte for byte: write them back with Buffer.from(p, 'latin1')),
 * entries below a listed directory left out (rsync -r sends a listed directory whole); null when
 * the whole tree must go (its root changed, too many entries, or find failed).
 */
export function changedSince(root: string, sinceEpochS: number, oneFs: boolean): Promise<string[] | null> {
  return new Promise((resolve) => {
    // -P (the default): no symlink is followed; %y %P: type, then the path below root.
    const args = [root, ...(oneFs ? ['-xdev'] : []), '-newerct', `@${sinceEpochS.toFixed(3)}`, '-printf', '%y %P\\0'];
    const c = spawn('find', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tooMany = false;
    c.stdout!.on('data', (d: Buffer) => {
      bytes += d.length;
      if (bytes > MAX_BYTES) {
        tooMany = true;
        c.kill('SIGKILL');
        return;
      }
      chunks.push(d);
    });
    c.on('error', () => resolve(null));
    c.on('close', (code) => {
      if (tooMany || code !== 0) return resolve(null);
      // latin1: one char per byte, so a name that is not UTF-8 goes to rsync byte for byte.
      const entries = Buffer.concat(chunks).toString('latin1').split('\0').filter(Boolean);
      if (entries.length > MAX_ENTRIES) return resolve(null);
      const dirs = new Set<string>();
      const out: string[] = [];
      for (const e of entries) {
        const type = e[0];
        const rel = e.slice(2);
        if (rel === '') return resolve(null); // the root itself changed: everything goes
        if (covered(rel, dirs)) continue;
        if (type === 'd') dirs.add(rel);
        out.push(rel);
      }
      resolve(out);
    });
  });
}

/** Is rel below a directory already listed (find lists a directory before what is in it)? */
function covered(rel: string, dirs: Set<string>): boolean {
  for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) if (dirs.has(rel.slice(0, i))) return true;
  return false;
}
