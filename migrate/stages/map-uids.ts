/**
 * Stage "map uids" (online into another uid range): rsync reads through an idmapped view that
 * shows the files in DEST's range (idmapmount.ts), so they arrive there owned right, and the
 * final sync while frozen still sends only what changed. (Offline, DEST shifts them after the
 * copy.) Nothing to do when DEST gave the same range.
 */
import fs from 'node:fs';
import { mountViewIn, shiftMap } from '../../src/sys/idmapmount.js';
import { updateJournal } from '../journal.js';
import type { Stage } from '../stages.js';
import { MigExit, StageFailure } from '../errors.js';
import type { Migration } from './migration.js';

export function mapUids(m: Migration): Stage {
  const { ctx, ctid, row } = m;
  return {
    name: 'map uids',
    run: () => {
      if (m.destBase === row.uidBase) return;
      // DEST chose another range only when told it may (anySlot, decided in preflight).
      if (!m.anySlot || !Number.isInteger(m.destBase)) throw new StageFailure(MigExit.APPLY_CONFIG, `DEST gave uid range ${m.destBase}, not ${row.uidBase}`);
      m.viewDir = fs.mkdtempSync(m.viewPrefix);
      updateJournal(ctx, ctid, { tmp: [m.localDump, m.ssh.dir, m.viewDir] });
      mountViewIn(m.viewDir, m.copyFrom, shiftMap(row.uidBase, m.destBase, row.uidSize));
      m.notes.push(`uid range: ${row.uidBase}+${row.uidSize} here, ${m.destBase}+${row.uidSize} on DEST (files mapped on the way, the dump's user namespace moved there)`);
    },
    undo: () => m.unview(),
  };
}
