/**
 * vzctl set: validate through the parameter table, apply live to a running container where the
 * parameter allows it (one applier per group of the table, src/core/appliers), and store with
 * --save. A value that fails to apply is not stored.
 */
import type { Context } from '../context.js';
import { withLock } from '../lock.js';
import { VzError } from '../../base/errors.js';
import { requireContainer } from '../resolve.js';
import { probeRuntime } from '../runtime-state.js';
import { mergeStored, parseParams, type RawParams } from '../../config/params.js';
import { withRevert } from '../reverter.js';
import { applyChange, neverStored } from '../appliers/index.js';
import { readStored } from '../stored.js';

export interface SetResult {
  applied: string[];
  saved: boolean;
}

export async function setParams(ctx: Context, ctid: number, raw: RawParams, save: boolean): Promise<SetResult> {
  const params = parseParams(raw, 'set');
  if (Object.keys(params).length === 0) throw new VzError('NOT_ENOUGH_PARAMS', 'nothing to set', { ctid });
  return withLock(ctx, ctid, async () => {
    const row = requireContainer(ctx, ctid);
    const db = ctx.db();
    const probe = probeRuntime(ctx.paths(ctid));
    // Passwords and keys go into the container's files at once, running or not: never stored.
    if (!probe.running && !save && Object.keys(params).some((k) => !neverStored(k))) {
      throw new VzError('NOT_RUNNING', 'container is not running: nothing to apply', { ctid, hint: 'add --save to store the change' });
    }
    const stored = readStored(db, ctid).params;
    // devnodes, capability and features are changes to what is stored, not replacements (the table's merge).
    const change = mergeStored(params, stored);
    const t = ctx.target(ctid);
    return withRevert(async (undo) => {
      const { applied, store } = await applyChange({
        ctx, ctid, owner: { uid: row.uidBase, gid: row.uidBase }, stored, params: change, running: probe.running, initPid: probe.initPid,
        save, target: t, mounted: ctx.storage(ctid).isMounted(t),
      }, undo);
      if (save) {
        db.transaction(() => {
          if ('name' in store) db.setName(ctid, store.name ?? null);
          const rest = Object.fromEntries(Object.entries(store).filter(([k]) => k !== 'name'));
          db.setParams(ctid, rest);
        });
        ctx.progress('Saved parameters for container');
      }
      return { applied, saved: save };
    });
  });
}
