/**
 * A container must never stay frozen because vzdump died (SIGKILL, OOM) inside suspend mode's
 * freeze. Before freezing, a tiny shell is started with PR_SET_PDEATHSIG (setpriv): if we die,
 * the kernel sends it SIGTERM and it writes the thaw value into the freezer file. After our own
 * thaw it is killed without doing anything.
 */
import { VzError } from '../base/errors.js';
import { childProcess } from '../sys/childproc.js';

export interface ThawGuard {
  release(): void;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function thawGuard(t: { file: string; value: string }): Promise<ThawGuard> {
  // `sleep & wait` so the trap runs at once; "ready" once the trap is set.
  const script = `trap 'printf %s ${quote(t.value)} > ${quote(t.file)}; exit 0' TERM; echo ready; while :; do sleep 5 & wait $!; done`;
  const p = childProcess().spawn('setpriv', ['--pdeathsig', 'TERM', '--', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  const guard = { release: () => void p.kill('SIGKILL') };
  return new Promise((resolve, reject) => {
    p.once('error', (e) => reject(new VzError('SYSTEM', `cannot start the thaw guard (setpriv): ${e.message}`)));
    p.once('exit', () => reject(new VzError('SYSTEM', 'the thaw guard exited before the freeze')));
    p.stdout!.once('data', () => {
      p.removeAllListeners('exit');
      p.stdout!.resume();
      resolve(guard);
    });
  });
}
