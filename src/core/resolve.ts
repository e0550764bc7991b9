/** Turns a CTID or a container name from the command line into a container. */
import { looksLikeCtid, parseCtid } from '../config/ctid.js';
import type { ContainerRow } from '../state/types.js';
import type { Context } from './context.js';
import { VzError } from '../base/errors.js';

export function resolveCtid(ctx: Context, arg: string): number {
  if (looksLikeCtid(arg) || /^[-+]?\d+$/.test(arg)) return parseCtid(arg);
  const row = ctx.dbIfExists()?.findByName(arg);
  if (!row) {
    if (/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(arg)) throw new VzError('NOT_FOUND', `container "${arg}" does not exist`);
    throw new VzError('SYNTAX', `invalid CTID "${arg}"`);
  }
  return row.ctid;
}

/** A container that exists; one left half-created by a killed create does not count. */
export function findContainer(ctx: Context, ctid: number): ContainerRow | undefined {
  const row = ctx.dbIfExists()?.getContainer(ctid);
  return row && row.state !== 'creating' ? row : undefined;
}

export function requireContainer(ctx: Context, ctid: number): ContainerRow {
  const row = findContainer(ctx, ctid);
  if (!row) throw new VzError('NOT_FOUND', 'container does not exist', { ctid, hint: `create it with: vzctl create ${ctid} --ostemplate busybox` });
  return row;
}
