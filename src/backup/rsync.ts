/** rsync for suspend mode's two passes, and the tree size for progress. */
import { childProcess } from '../sys/childproc.js';
import { VzError } from '../core/errors.js';

/**
 * Copies `src/` to `dst/` with owners, modes, hard links, ACLs, xattrs and holes (host ids: the
 * staging copy is archived through the container's namespace like the original). `live`: the
 * first pass, where files vanishing under rsync (exit 24) are expected. Returns warnings.
 */
export function rsyncTree(src: string, dst: string, o: { live: boolean; signal?: AbortSignal }): string[] {
  if (o.signal?.aborted) throw new VzError('SYSTEM', 'backup aborted');
  const r = childProcess().spawnSync('rsync', ['-aHAXS', '--numeric-ids', '--delete', '--one-file-system', `${src}/`, `${dst}/`], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw new VzError('SYSTEM', `cannot run rsync: ${r.error.message}`);
  const lines = (r.stderr || '').trim().split('\n').filter(Boolean);
  // The receiver's reason (a full disk) matters more than the sender's broken pipe that follows.
  const msg = lines.find((l) => /No space left|Disk quota/.test(l)) ?? lines.pop() ?? '';
  if (r.status === 24 && o.live) return [`rsync: ${msg}`];
  if (r.status !== 0) {
    throw new VzError(/No space left|Disk quota/.test(msg) ? 'NO_SPACE' : 'SYSTEM', `rsync of ${src} to ${dst} failed (exit ${r.status}): ${msg}`);
  }
  return [];
}

/** Apparent size of a tree in bytes (what tar will read, near enough). */
export function treeBytes(dir: string): number {
  const r = childProcess().spawnSync('du', ['-sb', '--apparent-size', '-x', dir], { encoding: 'utf8' });
  return Number(r.stdout?.split(/\s/)[0]) || 0;
}
