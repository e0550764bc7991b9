/**
 * Applies a retention policy to one container's archives in a dump directory. Only archive names
 * count (NAME.sha256 and NAME.auth do not); an archive goes with its .sha256 and .auth.
 */
import fs from 'node:fs';
import path from 'node:path';
import { authFile, checksumFile, parseArchiveName } from './names.js';
import { hasRetention, pruneSelect, type Retention } from './prune.js';

export interface PruneOutcome {
  kept: string[];
  removed: string[];
}

export function listArchives(dumpdir: string, ctid: number): Array<{ item: string; time: Date }> {
  return fs
    .readdirSync(dumpdir)
    .map((f) => ({ f, p: parseArchiveName(f) }))
    .filter((e) => e.p?.ctid === ctid)
    .map((e) => ({ item: path.join(dumpdir, e.f), time: e.p!.time }));
}

export function pruneArchives(dumpdir: string, ctid: number, r: Retention): PruneOutcome {
  const out: PruneOutcome = { kept: [], removed: [] };
  if (!hasRetention(r)) return out;
  for (const e of pruneSelect(listArchives(dumpdir, ctid), r)) {
    if (e.mark === 'keep') {
      out.kept.push(e.item);
      continue;
    }
    fs.rmSync(e.item, { force: true });
    fs.rmSync(checksumFile(e.item), { force: true });
    fs.rmSync(authFile(e.item), { force: true });
    out.removed.push(e.item);
  }
  return out;
}
