/**
 * vzctl's entry: yargs parses, one verb runs, and this is the only place where errors become a
 * message and an exit code (vzctl's numbers, see base/errors.ts).
 */
import type { Verb } from './verb.js';
import { Output, requireRoot } from './output.js';
import { baseYargs } from './yargs-base.js';
import './recoveries.js';
import { ContainerService } from '../core/service.js';
import { create } from './create.js';
import { start } from './start.js';
import { stop } from './stop.js';
import { restart } from './restart.js';
import { status } from './status.js';
import { destroy } from './destroy.js';
import { mount, umount } from './mount.js';
import { exec, enter, console as consoleVerb } from './exec.js';
import { set } from './set.js';
import { quota, compact } from './quota.js';
import { template } from './template.js';
import { suspend, resume } from './suspend.js';
import { job } from './job.js';

const VERBS: Verb[] = [create, start, stop, restart, status, destroy, mount, umount, exec, enter, consoleVerb, set, quota, compact, template, suspend, resume, job];

/** `vzctl exec CTID CMD...` passes everything after the CTID to the command, options included. */
export function splitExecArgs(argv: string[]): string[] {
  const verbAt = argv.findIndex((a) => !a.startsWith('-'));
  if (verbAt < 0 || argv[verbAt] !== 'exec' || argv.length < verbAt + 2) return argv;
  let rest = argv.slice(verbAt + 2);
  if (rest[0] === '--') rest = rest.slice(1);
  return [...argv.slice(0, verbAt + 2), '--', ...rest];
}

/** Verbs whose plainest form is `VERB CTID` with every option at its default. */
const PLAIN: Record<string, Verb> = { status, start, stop, restart, destroy, mount, umount, enter, console: consoleVerb };

/**
 * The plainly shaped calls (`start CTID`, `status CTID`, `exec CTID CMD...`) skip yargs: loading
 * it costs more than the rest of such a command. Anything else, options included, goes
 * through yargs.
 */
export function fastPath(argv: string[]): { verb: Verb; args: Record<string, unknown> } | undefined {
  const verbAt = argv.findIndex((a) => !a.startsWith('-'));
  if (verbAt < 0) return undefined;
  const [verb, ctid, ...rest] = argv.slice(verbAt);
  // Global flags before the verb, or after the CTID of a plain verb, are all this parse knows.
  const globals: Record<string, boolean> = {};
  const flag = (a: string) => {
    if (a === '--json') return (globals.json = true);
    if (a === '-q' || a === '--quiet') return (globals.quiet = true);
    return false;
  };
  if (!argv.slice(0, verbAt).every(flag)) return undefined;
  if (ctid === undefined || ctid.startsWith('-') || verb === undefined) return undefined;
  if (verb === 'exec') {
    if (rest.length === 0 || rest[0] === '--' || rest[0]!.startsWith('-')) return undefined;
    return { verb: exec, args: { ...globals, ctid, command: rest } };
  }
  if (!Object.hasOwn(PLAIN, verb)) return undefined;
  const args: Record<string, unknown> = { ...globals, ctid };
  for (const a of rest) {
    if (a === '--fast' && (verb === 'stop' || verb === 'restart')) args.fast = true;
    else if (!flag(a)) return undefined;
  }
  return { verb: PLAIN[verb]!, args: { ...args, ...globals } };
}

export async function main(argv: string[]): Promise<number> {
  const wantsJson = argv.includes('--json');
  let out = new Output('vzctl', wantsJson, false);
  let selected: { verb: Verb; args: Record<string, unknown> } | undefined = fastPath(argv);
  try {
    if (selected) {
      out = new Output('vzctl', Boolean(selected.args.json), Boolean(selected.args.quiet));
      return await runVerb(selected.verb, selected.args, out).catch((e) => out.error(e));
    }
    let y = (await baseYargs(splitExecArgs(argv), 'vzctl', '$0 <command> <ctid> [options]'))
      .parserConfiguration({ 'populate--': true })
      .demandCommand(1, 'a command is required')
      .recommendCommands();
    for (const verb of VERBS) {
      y = y.command({
        command: verb.command,
        aliases: verb.aliases,
        describe: verb.describe,
        builder: verb.builder ?? ((b) => b),
        handler: (args) => {
          selected = { verb, args: args as Record<string, unknown> };
        },
      });
    }
    const parsed = (await y.parseAsync()) as Record<string, unknown>;
    const chosen = selected as { verb: Verb; args: Record<string, unknown> } | undefined;
    if (!chosen) return 0; // --help already printed
    out = new Output('vzctl', Boolean(parsed.json), Boolean(parsed.quiet));
    return await runVerb(chosen.verb, chosen.args, out);
  } catch (e) {
    return out.error(e);
  }
}

async function runVerb(verb: Verb, args: Record<string, unknown>, out: Output): Promise<number> {
  requireRoot();
  const svc = new ContainerService({ progress: out.info, status: out.status });
  try {
    return await verb.run(args, svc, out);
  } finally {
    svc.close();
  }
}
