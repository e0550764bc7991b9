/** vzctl destroy: removes a stopped container's private area, mount point, run files and record. */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../context.js';
import { withLock } from '../lock.js';
import { VzError } from '../../base/errors.js';
import { probeRuntime } from '../runtime-state.js';
import { crashPoint } from '../../base/inject.js';
import { cleanupRuntime } from '../cleanup.js';
import { discardDump } from './suspend.js';
import { shutOut } from '../reach.js';

export async function destroyContainer(ctx: Context, ctid: number): Promise<void> {
  return withLock(ctx, ctid, () => destroyLocked(ctx, ctid), { wants: 'stopped' });
}

/** The destroy itself, for callers that hold the lock already (vzmigrate). */
export function destroyLocked(ctx: Context, ctid: number): void {
  {
    const db = ctx.db();
    const row = db.getContainer(ctid); // a half-created one ('creating') may be destroyed too
    if (!row) throw new VzError('NOT_FOUND', 'container does not exist', { ctid });
    const p = ctx.paths(ctid);
    if (probeRuntime(p).running) {
      throw new VzError('RUNNING', 'container is currently running', { ctid, hint: `stop it first: vzctl stop ${ctid}` });
    }
    db.setState(ctid, 'destroying', 'destroy');
    crashPoint('destroy: recorded as destroying');
    cleanupRuntime(ctx, ctid, { unmount: true });
    crashPoint('destroy: runtime cleaned up');
    ctx.progress(`Destroying container private area: ${p.private}`);
    ctx.storage(ctid).destroy(ctx.target(ctid));
    crashPoint('destroy: private area removed');
    // The logs of a failed dump or restore kept beside them (suspend.ts, resume.ts) go too.
    const logs = path.dirname(p.monitorLog);
    for (const f of [p.statusfile, p.consoleLog, `${p.consoleLog}.1`, p.monitorLog, path.join(logs, `${ctid}.dump.log`), path.join(logs, `${ctid}.restore.log`)]) fs.rmSync(f, { force: true });
    // A suspended container's dump: restored onto another container of this CTID, it would run
    // the old processes on the new files.
    discardDump(ctx, ctid);
    shutOut(ctx.cfg, row.uidBase);
    // The record goes last: a destroy killed half way can simply be run again.
    db.deleteContainer(ctid);
    ctx.progress('Container private area was destroyed');
  }
}
