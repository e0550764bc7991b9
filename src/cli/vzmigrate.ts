/**
 * vzmigrate [--online|--restart] [-r yes|no] [--keep-dst] [--ssh=OPTIONS] [-t] [--dry-run] [--json] DEST CTID
 * (OpenVZ's spellings too: --live for --online, --check-only for --dry-run; OpenVZ's migration
 * of a running container without --live is the restart mode.)
 * (and, on DEST, `vzmigrate --receive VERB CTID`, run over SSH by the source).
 * Parse, one call into migrate/, render; exit codes in migrate/errors.ts.
 */
import { Context } from '../core/context.js';
import { isVzError } from '../base/errors.js';
import { requireRoot } from './output.js';
import './recoveries.js';
import { migrate } from '../../migrate/migrate.js';
import { NotCheckpointable } from '../../migrate/stages/preflight.js';
import { formatBlocker } from '../criu/precheck.js';
import { MigExit, MigrateError } from '../../migrate/errors.js';
import { splitSshOptions } from '../../migrate/ssh.js';
import { receiveMain } from '../../migrate/receive.js';
import { resolveCtid } from '../core/resolve.js';
import { injected } from '../base/inject.js';

const USAGE = 'usage: vzmigrate [--online|--restart] [-r yes|no] [--keep-dst] [--ssh=OPTIONS] [-t] [--dry-run] [--json] DEST CTID';

interface Args {
  online: boolean;
  restart: boolean;
  json: boolean;
  remove: boolean;
  keepDst: boolean;
  ssh?: string;
  times: boolean;
  dryRun: boolean;
  quiet: boolean;
  pos: string[];
}

export function parseArgs(argv: string[]): Args {
  const a: Args = { online: false, restart: false, json: false, remove: true, keepDst: false, times: false, dryRun: false, quiet: false, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${x} needs a value`);
      return v;
    };
    if (x === '--online' || x === '--live') a.online = true;
    else if (x === '--restart') a.restart = true;
    else if (x === '--json') a.json = true;
    else if (x === '-r' || x === '--remove-area') a.remove = yesNo(val());
    else if (x.startsWith('--remove-area=')) a.remove = yesNo(x.slice(14));
    else if (x === '--keep-dst') a.keepDst = true;
    else if (x.startsWith('--ssh=')) a.ssh = x.slice(6);
    else if (x === '--ssh') a.ssh = val();
    else if (x === '-t' || x === '--times') a.times = true;
    else if (x === '--dry-run' || x === '--check-only') a.dryRun = true;
    else if (x === '-q' || x === '--quiet') a.quiet = true;
    else if (x.startsWith('-')) throw new Error(`unknown option ${x}`);
    else a.pos.push(x);
  }
  if (a.pos.length !== 2) throw new Error('DEST and CTID are required');
  if (a.online && a.restart) throw new Error('--online and --restart exclude each other');
  return a;
}

function yesNo(v: string): boolean {
  if (v === 'yes') return true;
  if (v === 'no') return false;
  throw new Error(`-r takes yes or no, not "${v}"`);
}

export async function vzmigrateMain(argv: string[]): Promise<number> {
  if (argv[0] === '--receive') return receiveMain(argv.slice(1));
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`vzmigrate: ${(e as Error).message}\n${USAGE}\n`);
    return MigExit.USAGE;
  }
  requireRoot();
  const say = (m: string) => {
    if (!args.quiet && !args.json) process.stdout.write(`${m}\n`);
  };
  const mode = args.online ? 'online' : args.restart ? 'restart' : 'offline';
  const ctx = new Context({ progress: say });
  try {
    const [dest, ct] = args.pos as [string, string];
    const ctid = resolveCtid(ctx, ct);
    say(`Starting ${mode} migration of CT ${ctid} to ${dest}`);
    const res = await migrate(ctx, {
      dest,
      ctid,
      online: args.online,
      restart: args.restart,
      removeSource: args.remove,
      keepDst: args.keepDst,
      sshOpts: splitSshOptions(args.ssh),
      dryRun: args.dryRun,
      injectRestoreFail: injected('RESTORE_FAIL'),
      injectStartFail: injected('START_FAIL'),
      onStage: (name) => say(`Stage: ${name}`),
    });
    for (const n of res.notes) say(n);
    if (args.json) {
      process.stdout.write(JSON.stringify({ ok: true, ctid, dest, mode, dry_run: args.dryRun, timings: res.timings, frozen_ms: res.frozenMs, frozen_steps: res.frozenSteps, downtime_ms: res.downtimeMs, notes: res.notes }, null, 2) + '\n');
      return 0;
    }
    if (args.times) {
      // Like vzmigrate -t: each stage, the total, and the frozen time (freeze here to resume there).
      const total = res.timings.reduce((s, x) => s + x.ms, 0);
      for (const t of res.timings) process.stdout.write(`  ${t.name.padEnd(28)} ${(t.ms / 1000).toFixed(3)} s\n`);
      process.stdout.write(`  ${'total'.padEnd(28)} ${(total / 1000).toFixed(3)} s\n`);
      if (res.frozenMs !== undefined) process.stdout.write(`  ${'frozen time'.padEnd(28)} ${(res.frozenMs / 1000).toFixed(3)} s\n`);
      // Where the frozen time went: each step's end, from the freeze.
      for (const t of res.frozenSteps ?? []) process.stdout.write(`    ${`+ ${t.name}`.padEnd(26)} ${(t.ms / 1000).toFixed(3)} s\n`);
      // Restart mode: from the stop here to running on DEST.
      if (res.downtimeMs !== undefined) process.stdout.write(`  ${'downtime'.padEnd(28)} ${(res.downtimeMs / 1000).toFixed(3)} s\n`);
    }
    say(args.dryRun ? `Dry run: DEST can take the container${args.online ? ', and it can be checkpointed now' : ''}` : `Migration of CT ${ctid} to ${dest} completed`);
    return 0;
  } catch (e) {
    if (e instanceof MigrateError) {
      if (args.json) {
        const blockers = e.cause instanceof NotCheckpointable ? e.cause.blockers.map((b) => ({ ...b, line: formatBlocker(b) })) : undefined;
        process.stdout.write(JSON.stringify({ ok: false, exit: e.exit, stage: e.stage, error: e.message, ...(blockers ? { checkpointable: false, blockers } : {}) }, null, 2) + '\n');
        return e.exit;
      }
      process.stderr.write(`vzmigrate: ${e.message}\n`);
      return e.exit;
    }
    process.stderr.write(`vzmigrate: ${(e as Error).message}\n`);
    return isVzError(e) ? e.exit : 1;
  } finally {
    ctx.close();
  }
}
