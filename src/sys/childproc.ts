/**
 * node:child_process loaded on first use: it pulls in node:net and costs a few ms at start-up,
 * which hot commands (status, list) never need.
 */
import { createRequire } from 'node:module';
import type * as ChildProcess from 'node:child_process';

let cp: typeof ChildProcess | undefined;

export function childProcess(): typeof ChildProcess {
  return (cp ??= createRequire(import.meta.url)('node:child_process') as typeof ChildProcess);
}
