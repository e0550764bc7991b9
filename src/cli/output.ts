/** Human output by default, JSON with --json; errors go through here too. */
import fs from 'node:fs';
import { isVzError, VzError } from '../base/errors.js';

/**
 * Straight to fd 1 / 2: touching process.stdout builds a stream (and loads node:stream),
 * which costs a hot command like status several ms. Writes are synchronous either way.
 */
export function writeOut(text: string): void {
  writeAll(1, text);
}
export function writeErr(text: string): void {
  writeAll(2, text);
}
function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += fs.writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue; // a non-blocking pipe that is full
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') return; // reader went away (vzlist | head)
      throw e;
    }
  }
}

export class Output {
  constructor(
    readonly prog: string,
    readonly json: boolean,
    readonly quiet: boolean,
  ) {}

  /** A progress line for people (suppressed with --json and --quiet). */
  info = (msg: string): void => {
    if (!this.json && !this.quiet) writeOut(msg + '\n');
  };

  private lastStatus = '';

  /**
   * Long work: on a terminal a bar redrawn in place on stderr; otherwise one line per phase (the
   * label's first word), so a log stays short. Nothing with --json or --quiet.
   */
  status = (fraction: number | undefined, label: string): void => {
    if (this.json || this.quiet) return;
    if (process.stderr.isTTY) {
      const width = 30;
      const done = fraction === undefined ? 0 : Math.round(Math.min(1, fraction) * width);
      const pct = fraction === undefined ? '   ' : `${String(Math.round(fraction * 100)).padStart(3)}%`;
      const cols = process.stderr.columns || 80;
      const line = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${pct} ${label}`.slice(0, cols - 1);
      writeErr(`\r${line.padEnd(cols - 1)}${fraction !== undefined && fraction >= 1 ? '\n' : ''}`);
      return;
    }
    const phase = label.split(' ')[0] ?? '';
    if (fraction !== undefined && fraction >= 1) return;
    if (phase !== this.lastStatus) writeErr(`  ${phase}...\n`);
    this.lastStatus = phase;
  };

  /** The result: JSON for programs, or the human rendering. */
  result(data: unknown, human?: () => string | undefined): void {
    if (this.json) {
      writeOut(JSON.stringify(data, null, 2) + '\n');
      return;
    }
    const text = human?.();
    if (text) writeOut(text.endsWith('\n') ? text : text + '\n');
  }

  /** One line per error, never a stack trace (VZKIT_DEBUG=1 shows it); returns the exit code. */
  error(e: unknown): number {
    const errno = (e as NodeJS.ErrnoException)?.code;
    const err = isVzError(e)
      ? e
      : new VzError('SYSTEM', `${errno ? '' : 'internal error: '}${(e as Error)?.message ?? String(e)}`, { cause: e });
    if (this.json) {
      writeOut(JSON.stringify(err.toJSON()) + '\n');
    } else {
      const who = err.ctid !== undefined ? `CT ${err.ctid}: ` : '';
      const hint = err.hint ? ` (${err.hint})` : '';
      writeErr(`${this.prog}: ${who}${err.message}${hint}\n`);
    }
    if (process.env.VZKIT_DEBUG) writeErr(`${(e as Error)?.stack ?? ''}\n`);
    return err.exit;
  }
}

/** Like vzctl: every command needs root (the node's state, namespaces, cgroups, mounts). */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new VzError('SYSTEM', 'must be run as root', { hint: "the node's state, namespaces, cgroups and mounts need it" });
}
