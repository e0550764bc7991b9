/** vzrestore ARCHIVE CTID [--force] [--start] [--trust-archive] */
import { runStandalone } from './standalone.js';
import { parseCtid } from '../config/ctid.js';
import { restoreContainer } from '../backup/restore.js';

export function vzrestoreMain(argv: string[]): Promise<number> {
  return runStandalone(
    'vzrestore',
    argv,
    '$0 ARCHIVE CTID [--force] [--start] [--trust-archive]',
    (y) =>
      y
        .command('$0 <archive> <ctid>', 'recreate a container from a vzdump archive (a new CTID is allowed)')
        .positional('archive', { type: 'string' })
        .positional('ctid', { type: 'string' })
        .option('force', { type: 'boolean', describe: 'replace an existing (stopped) container' })
        .option('start', { type: 'boolean', describe: 'start the container once restored' })
        .option('trust-archive', {
          type: 'boolean',
          describe:
            "the archive is your own: keep what widens the container's access to the host (devnodes, capabilities that are off by default, bridges, host interface names, a CRIU checkpoint); without it they are left out, and named, unless ARCHIVE.auth verifies with this node's backup key (this node's own vzdump made it)",
        }),
    async (args, svc, out) => {
      const r = await restoreContainer(svc.ctx, { archive: String(args.archive), ctid: parseCtid(String(args.ctid)), force: Boolean(args.force), start: Boolean(args.start), trustArchive: Boolean(args['trust-archive']) });
      out.result(r, () => `CT ${r.ctid} restored from ${r.archive}${r.replaced ? ' (replaced the old one)' : ''}${r.started ? ', started' : ''} in ${(r.ms / 1000).toFixed(1)} s`);
      return 0;
    },
  );
}
