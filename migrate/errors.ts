/**
 * vzmigrate's exit codes, named after vzctl's vzmigrate (MIG_ERR_*), so scripts can tell a
 * failed connection from a failed copy or restore. The message always names the stage.
 */
import { isVzError } from '../src/base/errors.js';

export const MigExit = {
  USAGE: 1, // bad command line
  CANT_CONNECT: 4, // SSH in BatchMode failed, or no vzkit on DEST
  COPY: 6, // rsync of the private area or the dump failed
  START_VPS: 7, // starting on DEST failed (offline)
  STOP_SOURCE: 8, // stopping on the source failed
  EXISTS: 9, // CTID (or its uid range) already used on DEST
  NOEXIST: 10, // no such container here
  IP_IN_USE: 12, // one of its addresses is used on DEST
  QUOTA: 13, // disk quota not available on DEST
  APPLY_CONFIG: 15, // registering on DEST failed
  CHECKPOINT: 16, // criu dump failed (VZ_CHKPNT_ERROR)
  RESTORE: 17, // criu restore on DEST failed (VZ_RESTORE_ERROR)
  UNSUP_CPU: 18, // criu cpuinfo check failed on DEST
  LOCKED: 20,
  DISKSPACE: 21, // not enough disk on DEST
} as const;

export class MigrateError extends Error {
  constructor(
    readonly stage: string,
    readonly exit: number,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'MigrateError';
  }
}

/** A failure inside a stage that knows its own exit code. */
export class StageFailure extends Error {
  constructor(
    readonly exit: number,
    message: string,
  ) {
    super(message);
  }
}

const BY_STAGE: Record<string, number> = {
  preflight: MigExit.CANT_CONNECT,
  stop: MigExit.STOP_SOURCE,
  register: MigExit.APPLY_CONFIG,
  'map uids': MigExit.COPY,
  'copy files': MigExit.COPY,
  'page server': MigExit.CHECKPOINT,
  'freeze and dump': MigExit.CHECKPOINT,
  'restore on DEST': MigExit.RESTORE,
  'start on DEST': MigExit.START_VPS,
  'stop source': MigExit.STOP_SOURCE,
  'remove source': MigExit.STOP_SOURCE,
};

export function exitFor(stage: string, e: unknown): number {
  if (e instanceof StageFailure) return e.exit;
  if (isVzError(e) && e.code === 'LOCKED') return MigExit.LOCKED;
  return BY_STAGE[stage] ?? 1;
}
