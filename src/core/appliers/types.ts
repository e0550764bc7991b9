/**
 * A live applier: how `vzctl set` brings one group of the parameter table (its `liveApply`) into
 * effect. set runs every check first, then the applies in `order`, inside one Reverter.
 */
import type { Context } from '../context.js';
import type { Reverter } from '../reverter.js';
import type { StorageTarget } from '../../storage/types.js';
import type { CtParams, LiveGroup, ParamValues } from '../../config/params.js';

/** What every applier of one `set` sees. */
export interface SetState {
  ctx: Context;
  ctid: number;
  /** The container root's host uid and gid: the owner of what is written into its files. */
  owner: { uid: number; gid: number };
  /** The stored config before this set. */
  stored: CtParams;
  /** The whole change, parsed (devnodes, features and capability already merged with what is stored). */
  params: ParamValues;
  running: boolean;
  initPid?: number;
  save: boolean;
  target: StorageTarget;
  /** The private area is mounted (the container's files can be written). */
  mounted: boolean;
}

export interface ApplyResult {
  /** Keys that took effect now. */
  applied: string[];
  /** With --save: what to store for the group instead of its values as given (stores: 'result'). */
  store?: Partial<CtParams>;
}

export interface Applier {
  group: LiveGroup;
  /** Lower first. A step that cannot be taken back (access) comes last, so nothing may fail after it. */
  order: number;
  /** 'running': applied to a running container only; 'always': to its files or private area, running or not. */
  when: 'running' | 'always';
  /** What --save stores: the values as given (default), the form apply returns, or nothing at all. */
  stores?: 'given' | 'result' | 'never';
  /** Refuses what cannot be applied, before any group changes anything (runs running or not). */
  check?(s: SetState, changed: ParamValues): void;
  /**
   * Applies the group's `changed` values. A step that must be taken back when this group or a
   * later one fails is registered on `undo` (the set's one Reverter) as soon as it is made, so
   * that a half-done apply is undone too.
   */
  apply(s: SetState, changed: ParamValues, undo: Reverter): ApplyResult | Promise<ApplyResult>;
  /** After every group applied and before storing: steps that cannot fail (they warn), e.g. files the container reads. */
  commit?(s: SetState, changed: ParamValues): void;
}
