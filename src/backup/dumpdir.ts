import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../core/context.js';

/** The node's default place for archives: ROOT/backup (made on first use, root only). */
export function defaultDumpdir(ctx: Context): string {
  const dir = path.join(ctx.cfg.root, 'backup');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
