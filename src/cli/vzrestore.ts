/** vzrestore ARCHIVE CTID [--force] [--start] */
import { runStandalone } from './standalone.js';
import { parseCtid } from '../config/ctid.js';

export function vzrestoreMain(argv: string[]): Promise<number> {
  return runStandalone(
    'vzrestore',
    argv,
    '$0 ARCHIVE CTID [--force] [--start]',
    (y) =>
      y
        .command('$0 <archive> <ctid>', 'recreate a container from a vzdump archive (a new CTID is allowed)')
        .positional('archive', { type: 'string' })
        .positional('ctid', { type: 'string' })
        .option('force', { type: 'boolean', describe: 'replace an existing (stopped) container' })
        .option('start', { type: 'boolean', describe: 'start the container once restored' }),
    async (args, svc, out) => {
      const r = await svc.restore({ archive: String(args.archive), ctid: parseCtid(String(args.ctid)), force: Boolean(args.force), start: Boolean(args.start) });
      out.result(r, () => `CT ${r.ctid} restored from ${r.archive}${r.replaced ? ' (replaced the old one)' : ''}${r.started ? ', started' : ''} in ${(r.ms / 1000).toFixed(1)} s`);
      return 0;
    },
  );
}
