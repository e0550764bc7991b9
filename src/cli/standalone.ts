/**
 * Commands of their own (vzdump, vzrestore, vzd) share vzctl's conventions: yargs, --json and
 * --quiet, root required, errors as one line with vzctl's exit codes (Output.error).
 */
import type { Argv } from 'yargs';
import { Output, requireRoot } from './output.js';
import { VERSION } from './version.js';
import { VzError } from '../core/errors.js';
import { ContainerService } from '../core/service.js';

export async function runStandalone(
  prog: string,
  argv: string[],
  usage: string,
  builder: (y: Argv) => Argv,
  run: (args: Record<string, unknown>, svc: ContainerService, out: Output) => Promise<number>,
): Promise<number> {
  let out = new Output(prog, argv.includes('--json'), argv.includes('-q') || argv.includes('--quiet'));
  try {
    const { default: yargs } = await import('yargs');
    let helped = false;
    const y = builder(
      yargs(argv)
        .scriptName(prog)
        .usage(usage)
        .option('json', { type: 'boolean', describe: 'machine-readable output (errors too)' })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress messages' })
        .strict()
        .help()
        .version(VERSION)
        .exitProcess(false)
        .wrap(Math.min(110, process.stdout.columns || 100))
        .fail((msg, err) => {
          throw err instanceof VzError ? err : new VzError('SYNTAX', msg || err?.message || 'invalid command line');
        }),
    ).showHelpOnFail(false);
    y.middleware((a) => void (helped = Boolean(a.help || a.version)), true);
    const args = (await y.parseAsync()) as Record<string, unknown>;
    if (helped || args.help || args.version) return 0;
    out = new Output(prog, Boolean(args.json), Boolean(args.quiet));
    requireRoot();
    const svc = new ContainerService({ progress: out.info, status: out.status });
    try {
      return await run(args, svc, out);
    } finally {
      svc.close();
    }
  } catch (e) {
    return out.error(e);
  }
}
