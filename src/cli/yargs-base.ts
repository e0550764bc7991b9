/** The yargs set-up every vzkit command shares: --json, --quiet, strict parsing, errors as VzError. */
import type { Argv } from 'yargs';
import { VERSION } from '../base/version.js';
import { VzError } from '../base/errors.js';

export async function baseYargs(argv: string[], prog: string, usage: string): Promise<Argv> {
  const { default: yargs } = await import('yargs');
  return yargs(argv)
    .scriptName(prog)
    .usage(usage)
    .option('json', { type: 'boolean', describe: 'machine-readable output (errors too)', global: true })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress messages', global: true })
    .strict()
    .help()
    .version(VERSION)
    .exitProcess(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      throw err instanceof VzError ? err : new VzError('SYNTAX', msg || err?.message || 'invalid command line');
    });
}
