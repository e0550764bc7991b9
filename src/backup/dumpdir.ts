import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../core/context.js';
import { VzError } from '../base/errors.js';

/**
 * A --dumpdir as given: no control characters (a newline would split the job table, the history
 * and the log lines that name it; an escape sequence would reach the admin's terminal), at most
 * PATH_MAX. `absolute`: a job runs later in vzd, whose working directory is not the admin's.
 */
export function parseDumpdir(raw: unknown, opts: { absolute: boolean }): string {
  if (typeof raw !== 'string' || raw === '') throw new VzError('INVALID', '--dumpdir needs a directory');
  const shown = JSON.stringify(raw);
  if (/[\x00-\x1f\x7f]/.test(raw)) throw new VzError('INVALID', `invalid --dumpdir ${shown}: contains a control character`);
  if (Buffer.byteLength(raw) >= 4096) throw new VzError('INVALID', '--dumpdir is longer than PATH_MAX');
  if (opts.absolute && !path.isAbsolute(raw)) {
    throw new VzError('INVALID', `invalid --dumpdir ${shown}: a job needs an absolute path (it runs in vzd, not in this directory)`);
  }
  return opts.absolute ? path.normalize(raw) : raw;
}

/** The node's default place for archives: ROOT/backup (made on first use, root only). */
export function defaultDumpdir(ctx: Context): string {
  const dir = path.join(ctx.cfg.root, 'backup');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
