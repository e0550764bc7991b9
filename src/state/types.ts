/** Row types of the state database. Field names are camelCase; the SQL aliases them. */

export const CT_STATES = ['creating', 'stopped', 'starting', 'running', 'stopping', 'destroying', 'suspended'] as const;
export type CtState = (typeof CT_STATES)[number];

export interface ContainerRow {
  ctid: number;
  name: string | null;
  ostemplate: string;
  profile: string | null;
  idmapSlot: number;
  uidBase: number; // first host uid of the CT's range
  uidSize: number;
  createdAt: string; // ISO 8601
  state: CtState;
  stateChangedAt: string;
}

export interface NewContainer {
  ctid: number;
  name?: string | null;
  ostemplate: string;
  profile?: string | null;
  /** Uids per CT. Host-global: slots only tile without overlap if every CT uses the same size. */
  uidSize: number;
  idmapBase: number; // first host uid of slot 0
  idmapCount: number; // number of slots
  state: CtState;
  /** This slot and no other (migration: a restored dump keeps its host uids); refused when taken. */
  slot?: number;
}

export type OpResult = 'ok' | 'error' | 'running';

export interface OpRow {
  id: number;
  ctid: number | null; // null for host-wide operations
  op: string;
  startedAt: string;
  endedAt: string | null;
  result: OpResult;
  detail: string | null;
  pid: number; // lets a later run tell a crashed 'running' op from a live one
}

export interface TransitionRow {
  id: number;
  ctid: number;
  fromState: CtState | null; // null: the CT was created
  toState: CtState | null; // null: the CT was deleted
  at: string;
  reason: string | null;
}
