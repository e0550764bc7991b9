/** hostname: the running container's UTS name, then its /etc/hosts and (with --save) /etc/hostname. */
import type { Applier } from './types.js';
import { VzError } from '../../base/errors.js';
import { LOCK_WAIT_MS } from '../lock.js';
import { helperPath } from '../../base/package-root.js';
import { parseHostname } from '../../config/names.js';
import { setHostnameIn } from '../../runtime/attach.js';
import { writeFileInRoot } from '../../sys/rootwrite.js';
import { refreshHosts } from '../apply-net.js';

/** Anything set waits for must end well before another operation's lock wait gives up. */
const LIVE_TIMEOUT_MS = Math.max(1_000, Math.min(5_000, LOCK_WAIT_MS / 2));

export const hostname: Applier = {
  group: 'hostname',
  order: 60,
  when: 'running',
  apply(s) {
    // The helper joins the container's UTS namespace and calls sethostname(2) itself: running
    // the container's own hostname(1) would hand a binary the tenant controls our lock and fds.
    const h = parseHostname(s.params.hostname);
    const r = setHostnameIn(helperPath(), s.initPid!, h, LIVE_TIMEOUT_MS);
    if (r.code !== 0) {
      const why = r.stderr.trim().split('\n').pop()?.replace(/^ctspawn: /, '');
      throw new VzError('BAD_HOSTNAME', `cannot set the hostname inside the container${why ? `: ${why}` : ` (exit ${r.code})`}`, { ctid: s.ctid });
    }
    return { applied: ['hostname'] };
  },
  commit(s) {
    if (!s.mounted) return;
    const name = s.params.hostname!;
    if (s.running || s.save) refreshHosts(s.ctx, s.ctid, s.target.mountPath, name, s.running, s.stored, s.owner);
    if (s.save) {
      // Also in the container's own files now (through openat2, never following its symlinks);
      // a stopped container gets it at its next start, which writes /etc/hostname anyway.
      // The container owns that file: if it made it something we will not write (a FIFO, a
      // directory), the hostname is still set and stored, as start does it.
      try {
        writeFileInRoot(s.target.mountPath, 'etc/hostname', `${name}\n`, s.owner);
      } catch (e) {
        s.ctx.warn(`CT ${s.ctid}: /etc/hostname not written: ${(e as Error).message}`);
      }
    }
  },
};
