/**
 * Commands of their own (vzdump, vzrestore, vzd) share vzctl's conventions: yargs, --json and
 * --quiet, root required, errors as one line with vzctl's exit codes (Output.error).
 */
import type { Argv } from 'yargs';
import { Output, requireRoot } from './output.js';
import { baseYargs } from './yargs-base.js';
import './recoveries.js';
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
    let helped = false;
    const y = builder(await baseYargs(argv, prog, usage)).showHelpOnFail(false);
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
