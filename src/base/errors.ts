/**
 * One error type for every failure a user can cause or meet. `exit` follows vzctl's
 * include/vzerror.h wherever vzctl has a number, so scripts written for vzctl keep working.
 * main.ts is the only place that turns these into a message and an exit code.
 */
export const ErrorCode = {
  SYSTEM: 3, // VZ_SYSTEM_ERROR: a syscall or helper failed
  ENVCREATE: 7, // VZ_ENVCREATE_ERROR: the container could not be started
  COMMAND: 8, // VZ_COMMAND_EXECUTION_ERROR
  LOCKED: 9, // VZ_LOCKED: another operation holds the container's lock
  NOCONFIG: 10, // VZ_NOCONFIG: global config missing or unreadable
  NOT_FOUND: 14,
  CHKPNT: 16, // VZ_CHKPNT_ERROR: checkpoint (criu dump) failed
  RESTORE: 17, // VZ_RESTORE_ERROR: restore (criu restore) failed // VZ_NOVE_CONFIG: no such container
  SYNTAX: 20, // VZ_INVALID_PARAMETER_SYNTAX: bad command line
  INVALID: 21, // VZ_INVALID_PARAMETER_VALUE
  NOT_ENOUGH_PARAMS: 27, // VZ_NOT_ENOUGH_PARAMS
  NOT_RUNNING: 31, // VZ_VE_NOT_RUNNING
  RUNNING: 32, // VZ_VE_RUNNING
  STOP_FAILED: 33, // VZ_STOP_ERROR
  NOT_MOUNTED: 40, // VZ_FS_NOT_MOUNTED
  MOUNTED: 41, // VZ_FS_MOUNTED
  NO_PRIVATE: 43, // VZ_FS_NOPRVT: private area missing
  EXISTS: 44, // VZ_FS_PRVT_AREA_EXIST: create over an existing container
  NO_SPACE: 46, // VZ_FS_NO_DISK_SPACE
  BAD_TEMPLATE: 47, // VZ_FS_BAD_TMPL: template cache missing or broken
  NEW_PRIVATE: 48, // VZ_FS_NEW_VE_PRVT
  CANT_MOUNT: 50, // VZ_FS_CANTMOUNT
  CANT_UMOUNT: 51, // VZ_FS_CANTUMOUNT
  DEL_PRIVATE: 52, // VZ_FS_DEL_PRVT
  BAD_INIT: 56, // VZ_FS_BAD_SBIN_INIT
  QUOTA: 60, // VZ_DQ_ON: disk quota not available or not set up
  BAD_HOSTNAME: 70, // VZ_BADHOSTNAME
  BAD_IP: 71, // VZ_BADIP
  IP_IN_USE: 78, // VZ_IP_INUSE
  INVALID_CONFIG: 85, // VZ_INVALID_CONFIG: malformed YAML / unknown key / wrong type
  TEMPLATE_NOT_FOUND: 91, // VZ_PKGSET_NOT_FOUND: unknown OS template or profile
  INTERRUPTED: 130, // no vzctl number: 128+SIGINT as shells report it; vzdump stopped by SIGINT or SIGTERM
  UNSUPPORTED: 143, // VZ_UNSUPPORTED_ACTION
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;

/** Control characters shown escaped (\n, \u001b...), so a message stays one printable line. */
function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

export class VzError extends Error {
  readonly code: ErrorCodeName;
  readonly exit: number;
  readonly ctid?: number;
  readonly hint?: string;

  constructor(code: ErrorCodeName, message: string, opts: { ctid?: number; hint?: string; cause?: unknown } = {}) {
    // One line, always: a value quoted from user input may hold newlines or terminal escapes.
    super(oneLine(message), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'VzError';
    this.code = code;
    this.exit = ErrorCode[code];
    this.ctid = opts.ctid;
    this.hint = opts.hint === undefined ? undefined : oneLine(opts.hint);
  }

  toJSON(): Record<string, unknown> {
    return { error: this.code, exit: this.exit, ctid: this.ctid, message: this.message, hint: this.hint };
  }
}

export function isVzError(e: unknown): e is VzError {
  return e instanceof VzError;
}

/** Wraps an errno-style Node error from a system call into a VzError with a readable line. */
export function systemError(what: string, e: unknown, opts: { ctid?: number; code?: ErrorCodeName } = {}): VzError {
  const err = e as NodeJS.ErrnoException;
  // A full disk is always reported as such, whatever step ran into it.
  const code = err?.code === 'ENOSPC' || err?.code === 'EDQUOT' ? 'NO_SPACE' : (opts.code ?? 'SYSTEM');
  const detail = err?.code ? `${err.code}${err.message ? ': ' + err.message.replace(/^\w+: /, '') : ''}` : String(e);
  return new VzError(code, `${what}: ${detail}`, { ctid: opts.ctid, cause: e });
}
