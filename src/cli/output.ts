/** Human output by default, JSON with --json; errors go through here too. */
import { isVzError, VzError } from '../core/errors.js';

export class Output {
  constructor(
    readonly prog: string,
    readonly json: boolean,
    readonly quiet: boolean,
  ) {}

  /** A progress line for people (suppressed with --json and --quiet). */
  info = (msg: string): void => {
    if (!this.json && !this.quiet) process.stdout.write(msg + '\n');
  };

  /** The result: JSON for programs, or the human rendering. */
  result(data: unknown, human?: () => string | undefined): void {
    if (this.json) {
      process.stdout.write(JSON.stringify(data, null, 2) + '\n');
      return;
    }
    const text = human?.();
    if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** One line per error, never a stack trace (VZKIT_DEBUG=1 shows it); returns the exit code. */
  error(e: unknown): number {
    const errno = (e as NodeJS.ErrnoException)?.code;
    const err = isVzError(e)
      ? e
      : new VzError('SYSTEM', `${errno ? '' : 'internal error: '}${(e as Error)?.message ?? String(e)}`, { cause: e });
    if (this.json) {
      process.stdout.write(JSON.stringify(err.toJSON()) + '\n');
    } else {
      const who = err.ctid !== undefined ? `CT ${err.ctid}: ` : '';
      const hint = err.hint ? ` (${err.hint})` : '';
      process.stderr.write(`${this.prog}: ${who}${err.message}${hint}\n`);
    }
    if (process.env.VZKIT_DEBUG) process.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
    return err.exit;
  }
}

/** Like vzctl: every command needs root (the node's state, namespaces, cgroups, mounts). */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new VzError('SYSTEM', 'must be run as root', { hint: "the node's state, namespaces, cgroups and mounts need it" });
}
