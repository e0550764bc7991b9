/** rsync for suspend mode's two passes, and the tree size for progress. */
import type { ChildProcess } from 'node:child_process';
import { childProcess } from '../sys/childproc.js';
import { VzError } from '../base/errors.js';

/**
 * Copies `src/` to `dst/` with owners, modes, hard links, ACLs, xattrs and holes (host ids: the
 * staging copy is archived through the container's namespace like the original). `live`: the
 * first pass, where files vanishing under rsync (exit 24) are expected. Returns warnings.
 * Asynchronous, so an interrupt (vzdump's SIGTERM) is handled at once: `signal` kills rsync.
 * -S keeps holes in what rsync writes, but its sender still reads them as zeros: large sparse
 * files are copied before by sparse.ts, and rsync's quick check (size, mtime) then skips them.
 */
export async function rsyncTree(src: string, dst: string, o: { live: boolean; signal?: AbortSignal }): Promise<string[]> {
  if (o.signal?.aborted) throw new VzError('SYSTEM', 'backup aborted');
  const p = childProcess().spawn('rsync', ['-aHAXS', '--numeric-ids', '--delete', '--one-file-system', `${src}/`, `${dst}/`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const { code, stderr, error } = await finished(p, o.signal);
  if (o.signal?.aborted) throw new VzError('SYSTEM', 'backup aborted');
  if (error) throw new VzError('SYSTEM', `cannot run rsync: ${error.message}`);
  const lines = stderr.trim().split('\n').filter(Boolean);
  // The receiver's reason (a full disk) matters more than the sender's broken pipe that follows.
  const msg = lines.find((l) => /No space left|Disk quota/.test(l)) ?? lines.pop() ?? '';
  if (code === 24 && o.live) return [`rsync: ${msg}`];
  if (code !== 0) {
    throw new VzError(/No space left|Disk quota/.test(msg) ? 'NO_SPACE' : 'SYSTEM', `rsync of ${src} to ${dst} failed (exit ${code}): ${msg}`);
  }
  return [];
}

/** Waits for a child; `signal` kills it. stderr is kept (its last 64 KiB). */
export function finished(p: ChildProcess, signal?: AbortSignal): Promise<{ code: number; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    let stderr = '';
    p.stderr?.on('data', (d) => {
      stderr += String(d);
      if (stderr.length > 65536) stderr = stderr.slice(-16384);
    });
    const kill = () => p.kill('SIGKILL');
    signal?.addEventListener('abort', kill);
    // A child that could not be spawned may never emit 'close': its 'error' ends the wait too.
    p.once('error', (error) => {
      signal?.removeEventListener('abort', kill);
      resolve({ code: 127, stderr, error });
    });
    p.once('close', (code, sig) => {
      signal?.removeEventListener('abort', kill);
      resolve({ code: code ?? (sig ? 128 : 1), stderr });
    });
  });
}

/** Apparent size of a tree in bytes (what tar will read, near enough). */
export function treeBytes(dir: string): number {
  const r = childProcess().spawnSync('du', ['-sb', '--apparent-size', '-x', dir], { encoding: 'utf8' });
  return Number(r.stdout?.split(/\s/)[0]) || 0;
}
