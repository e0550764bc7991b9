/**
 * vzdump [--mode stop|suspend|snapshot] [--compress zstd|gzip|none] [--dumpdir DIR] CTID...|--all
 * SIGINT or SIGTERM interrupts it cleanly: the running dump stops at its next step, its partial
 * files go, a container it stopped or froze runs again, no further container is started, and the
 * exit code is 130 (INTERRUPTED) whichever signal it was. A second signal meanwhile is ignored.
 */
import { defaultDumpdir, parseDumpdir } from '../backup/dumpdir.js';
import { dumpContainer } from '../backup/dump.js';
import { runStandalone } from './standalone.js';
import { writeErr } from './output.js';
import { VzError } from '../base/errors.js';
import { COMPRESSIONS, type Compression } from '../backup/names.js';
import { MODES, type BackupMode } from '../backup/manifest.js';

export function vzdumpMain(argv: string[]): Promise<number> {
  return runStandalone(
    'vzdump',
    argv,
    '$0 [--mode stop|suspend|snapshot] [--compress zstd|gzip|none] [--dumpdir DIR] CTID...|--all',
    (y) =>
      y
        .command('$0 [ctids..]', 'back up containers into archives')
        .positional('ctids', { type: 'string', array: true, describe: 'CTIDs or names' })
        .option('all', { type: 'boolean', describe: 'every container on the node' })
        .option('mode', { type: 'string', choices: MODES as unknown as string[], default: 'stop', describe: 'stop: stop, archive, start again; suspend: copy live, freeze for a final pass; snapshot: with a CRIU checkpoint' })
        .option('compress', { type: 'string', choices: COMPRESSIONS as unknown as string[], default: 'zstd' })
        .option('dumpdir', { type: 'string', describe: 'where archives go (default: ROOT/backup of the global config)' }),
    async (args, svc, out) => {
      const names = (args.ctids as string[] | undefined) ?? [];
      if (args.all && names.length) throw new VzError('SYNTAX', 'give CTIDs or --all, not both');
      const ctids = args.all ? svc.list().map((e) => e.ctid) : names.map((n) => svc.resolve(String(n)));
      if (ctids.length === 0) throw new VzError('NOT_ENOUGH_PARAMS', args.all ? 'there are no containers to back up' : 'name the containers to back up, or --all');
      const dumpdir = args.dumpdir === undefined ? undefined : parseDumpdir(args.dumpdir, { absolute: false });
      const results = [];
      let failedExit = 0;
      let skipped = 0;
      const ac = new AbortController();
      const onSignal = (sig: NodeJS.Signals) => {
        if (ac.signal.aborted) return;
        writeErr(`vzdump: ${sig}: interrupting; the container is brought back to its state before the dump first\n`);
        ac.abort(sig);
      };
      // Held until the dump's own clean-up has run (its finally starts the container again).
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        for (const ctid of ctids) {
          if (ac.signal.aborted) {
            skipped++;
            continue;
          }
          try {
            const r = await dumpContainer(svc.ctx, {
              ctid,
              mode: args.mode as BackupMode,
              compression: args.compress as Compression,
              dumpdir: dumpdir ?? defaultDumpdir(svc.ctx),
              progress: Boolean(process.stderr.isTTY) && !args.quiet && !args.json,
              signal: ac.signal,
            });
            results.push(r);
            // --json: one array at the end (a program reads one document).
            if (!args.json) out.result(r, () =>
              [
                `CT ${ctid}: ${r.archive} (${(r.bytes / 1048576).toFixed(1)} MiB, ${(r.ms / 1000).toFixed(1)} s`,
                r.frozenMs !== undefined ? `, frozen ${r.frozenMs.toFixed(0)} ms` : '',
                r.downMs !== undefined ? `, down ${(r.downMs / 1000).toFixed(1)} s` : '',
                `)`,
                ...r.warnings.map((w) => `\n  warning: ${w}`),
              ].join(''),
            );
          } catch (e) {
            // One container's failure does not stop the others (like Proxmox's vzdump --all); the first error's code is the exit code.
            if (ctids.length === 1) throw e;
            const code = out.error(e);
            failedExit ||= code;
          }
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      if (skipped) {
        const code = out.error(new VzError('INTERRUPTED', `interrupted by ${String(ac.signal.reason)}: ${skipped} container(s) not backed up`));
        failedExit ||= code;
      }
      if (args.json && !failedExit) out.result(results);
      return failedExit;
    },
  );
}
