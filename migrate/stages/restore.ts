/**
 * Stage "restore on DEST" (online): the request goes into the session opened before the freeze
 * (page-server.ts), with the dump's images besides the pages. DEST restores, proves that it runs
 * the container (proof.ts) and answers with its own steps. A lost answer is asked again, never
 * guessed (resolve.ts). Its undo takes DEST's copy away before the dump's undo thaws it here.
 */
import { updateJournal } from '../journal.js';
import type { Stage } from '../stages.js';
import { MigExit, StageFailure } from '../errors.js';
import { readImages } from '../../src/criu/criu.js';
import { NoAnswer, expectAnswer, type Reply, type Request } from '../protocol.js';
import type { Migration } from './migration.js';

export function restoreOnDest(m: Migration): Stage {
  const { ctx, ctid } = m;
  return {
    name: 'restore on DEST',
    run: async () => {
      const pending = m.pending;
      if (!pending) throw new StageFailure(MigExit.RESTORE, 'no session on DEST');
      // The images besides the pages (which the page server wrote there) go with the request:
      // they are small, and a separate copy would cost another session while frozen.
      const images = readImages(m.localDump);
      // From here on DEST may run it: a lost answer is asked again, never guessed (resolve.ts).
      m.sent();
      const tasks = ctx.cgroup(ctid).pids().length; // stopped: what was dumped
      const req: Request<'restore'> = { go: true, images, tasks, ...m.inject };
      pending.child.stdin!.end(JSON.stringify(req) + '\n');
      m.step('restore request sent');
      const sentAt = performance.now() - m.frozenAt;
      const r = await pending.out;
      m.step('DEST answered');
      let reply: Reply<'restore'>;
      try {
        reply = expectAnswer('restore', r, MigExit.RESTORE);
      } catch (e) {
        if (!(e instanceof NoAnswer)) {
          m.destCleared = true; // DEST undid its restore itself (resume's undo, proof.ts)
          throw e;
        }
        reply = m.destRunsIt('restore');
      }
      m.requireProof(reply, MigExit.RESTORE);
      m.frozenMs = performance.now() - m.frozenAt;
      // DEST's own steps, from its receipt of the request (about when it was sent).
      const destSteps = Array.isArray(reply.steps) ? (reply.steps as Array<{ name?: unknown; ms?: unknown }>) : [];
      const answered = m.frozenSteps.pop()!;
      for (const d of destSteps) if (typeof d.name === 'string' && typeof d.ms === 'number') m.frozenSteps.push({ name: `DEST: ${d.name}`, ms: sentAt + d.ms });
      m.frozenSteps.push(answered);
      updateJournal(ctx, ctid, { restored: true });
      m.notes.push(`${tasks} tasks were dumped here`);
    },
    // Before the thaw here (the dump's undo): DEST's copy goes first, so it never runs twice.
    undo: () => m.undoOnDest(),
  };
}
