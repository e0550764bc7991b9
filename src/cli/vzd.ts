/** vzd [--stop-on-exit] [--no-onboot] [--job-timeout S]: the scheduler daemon (foreground). */
import { runStandalone } from './standalone.js';
import { writeOut } from './output.js';
import { Vzd } from '../sched/daemon.js';
import { Context } from '../core/context.js';

export function vzdMain(argv: string[]): Promise<number> {
  return runStandalone(
    'vzd',
    argv,
    '$0 [--stop-on-exit] [--no-onboot] [--job-timeout SECONDS]',
    (y) =>
      y
        .command('$0', 'run scheduled backups and migrations; start onboot containers')
        .option('stop-on-exit', { type: 'boolean', default: false, describe: 'on SIGTERM/SIGINT stop the running containers cleanly' })
        .option('onboot', { type: 'boolean', default: true, describe: 'start containers marked --onboot yes (--no-onboot: do not)' })
        .option('job-timeout', { type: 'number', default: 300, describe: 'seconds SIGTERM waits for running jobs before aborting them' })
        .option('reload', { type: 'number', default: 5, describe: 'seconds between re-reads of the jobs table' }),
    async (args, svc) => {
      const log = (msg: string) => writeOut(`${new Date().toISOString()} ${msg}\n`);
      // The operations' progress lines go to the same timestamped log.
      const ctx = new Context({ cfg: svc.ctx.cfg, progress: log, warn: (m) => log(`warning: ${m}`) });
      const vzd = new Vzd(ctx, {
        stopOnExit: Boolean(args['stop-on-exit']),
        onboot: args.onboot !== false,
        jobTimeoutMs: Number(args['job-timeout']) * 1000,
        reloadMs: Math.max(1, Number(args.reload)) * 1000,
        log,
      });
      await vzd.start();
      const sig = await new Promise<string>((resolve) => {
        for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => resolve(s));
      });
      await vzd.shutdown(sig);
      ctx.close();
      return 0;
    },
  );
}
