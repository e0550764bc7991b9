/**
 * Restart mode (a running container, not live), after the first copy: stage "stop" stops it here
 * (its undo starts it again, unless DEST may run it), and "sync the rest" sends what changed
 * while it ran. Stage "start on DEST" (start-dest.ts) follows.
 */
import { stopLocked } from '../../src/core/ops/stop.js';
import { startLocked } from '../../src/core/ops/start.js';
import { updateJournal } from '../journal.js';
import type { Stage } from '../stages.js';
import { bwLimit, syncChanged } from './copy-files.js';
import type { Migration } from './migration.js';

export function stopHere(m: Migration): Stage {
  const { ctx, ctid } = m;
  return {
    name: 'stop',
    run: async () => {
      m.stopAt = performance.now();
      updateJournal(ctx, ctid, { restartStopped: true }); // killed from here on: started again by the next command
      await stopLocked(ctx, ctid, {});
    },
    undo: async () => {
      if (m.inDoubt) return ctx.warn(`CT ${ctid}: not started again here: ${m.o.dest} may run it`);
      await startLocked(ctx, ctid);
    },
  };
}

export function syncRest(m: Migration): Stage {
  return { name: 'sync the rest', run: () => syncChanged(m, 'the private area (final)', bwLimit()) };
}
