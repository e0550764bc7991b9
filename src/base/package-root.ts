/** Where vzkit's own files are: the package root, the native helper, the shipped templates. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The package root: found upwards from this file, so it works from src/ (tests) and dist/ (bundle). */
export function packageRoot(): string {
  if (root) return root;
  if (process.env.VZKIT_HOME) return (root = process.env.VZKIT_HOME);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'native', 'protocol.h'))) return (root = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the vzkit package root (set VZKIT_HOME)');
    dir = up;
  }
}

export function helperPath(): string {
  return process.env.VZKIT_HELPER ?? path.join(packageRoot(), 'native', 'build', 'ctspawn');
}
