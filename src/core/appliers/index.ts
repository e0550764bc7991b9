/**
 * The live appliers, one per group of the parameter table (src/config/params.ts `liveApply`),
 * and the loop `vzctl set` runs over them: every check first, then the applies in order, then
 * the commits. The caller holds the Reverter: a failure undoes what the groups before registered.
 */
import type { Reverter } from '../reverter.js';
import { CONFIG_ONLY, LIVE_GROUPS, pickGroup, paramByKey, type CtParams, type LiveGroup } from '../../config/params.js';
import type { Applier, SetState } from './types.js';
import { net } from './net.js';
import { disk } from './disk.js';
import { cgroup } from './cgroup.js';
import { devices } from './devices.js';
import { ioprio } from './ioprio.js';
import { hostname } from './hostname.js';
import { access } from './access.js';

export type { Applier, ApplyResult, SetState } from './types.js';

const BY_GROUP: Record<LiveGroup, Applier> = { net, disk, cgroup, devices, ioprio, hostname, access };

/** Every applier, in the order set applies them. */
export const APPLIERS: readonly Applier[] = LIVE_GROUPS.map((g) => BY_GROUP[g]).sort((a, b) => a.order - b.order);

export function applierFor(group: LiveGroup): Applier {
  return BY_GROUP[group];
}

/** A key whose value is never stored (it is applied to a stopped container without --save too). */
export function neverStored(key: string): boolean {
  const g = paramByKey(key)?.liveApply;
  return g !== undefined && g !== CONFIG_ONLY && BY_GROUP[g].stores === 'never';
}

export interface ChangeResult {
  applied: string[];
  /** What --save stores: the change, with each group's values in the form its applier stores. */
  store: CtParams;
}

/** Runs the appliers of the groups `s.params` changes (`appliers`: all of them, in order; a test passes its own). */
export async function applyChange(s: SetState, undo: Reverter, appliers: readonly Applier[] = APPLIERS): Promise<ChangeResult> {
  const groups = appliers.map((a) => ({ a, changed: pickGroup(s.params, a.group) })).filter((g) => Object.keys(g.changed).length > 0);
  for (const { a, changed } of groups) a.check?.(s, changed);
  // Stored as given: every value but those of groups stored in another form (net) or never (access).
  const other = new Set(groups.filter(({ a }) => (a.stores ?? 'given') !== 'given').flatMap(({ changed }) => Object.keys(changed)));
  const store = Object.fromEntries(Object.entries(s.params).filter(([k]) => !other.has(k))) as CtParams;
  const applied: string[] = [];
  for (const { a, changed } of groups) {
    if (a.when === 'running' && !s.running) continue;
    const res = await a.apply(s, changed, undo);
    applied.push(...res.applied);
    if (s.save && a.stores === 'result' && res.store) Object.assign(store, res.store);
  }
  for (const { a, changed } of groups) a.commit?.(s, changed);
  return { applied, store };
}
