/**
 * Stage "start on DEST" (offline and restart mode): DEST shifts the files into its uid range when
 * it gave another, makes the container its own, and (when it ran here) starts it and proves that
 * it runs it. A lost answer is asked again (resolve.ts). Its undo takes DEST's copy away before
 * the restart mode's stop is undone here.
 */
import { updateJournal } from '../journal.js';
import type { Stage } from '../stages.js';
import { MigExit } from '../errors.js';
import { NoAnswer, type Reply } from '../protocol.js';
import type { Migration } from './migration.js';

export function startOnDest(m: Migration): Stage {
  const { ctx, ctid, row } = m;
  return {
    name: 'start on DEST',
    run: () => {
      if (!m.wasRunning) return void m.remote('start', { run: false, fromBase: row.uidBase }, MigExit.START_VPS);
      m.sent();
      let reply: Reply<'start'>;
      try {
        reply = m.remote('start', { run: true, fromBase: row.uidBase }, MigExit.START_VPS);
      } catch (e) {
        if (!(e instanceof NoAnswer)) throw e;
        reply = m.destRunsIt('start');
      }
      m.requireProof(reply, MigExit.START_VPS);
      m.downtimeMs = performance.now() - m.stopAt;
      updateJournal(ctx, ctid, { started: true });
    },
    // Before the start here again (the stop's undo).
    undo: () => m.undoOnDest(),
  };
}
