/** What a killed vzdump leaves in a dump directory, and what the next locked operation removes: its own node's files only. */
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../../../src/core/context.js';
import { removeStaleDumpFiles } from '../../../src/backup/journal.js';
import { cleanupTmp, tmpTree } from '../config/helpers.js';

afterAll(cleanupTmp);

describe('removeStaleDumpFiles', () => {
  it("removes this node's half-written archive, .sha256 and .auth of the container; keeps whole ones, other CTIDs' and other nodes'", () => {
    const dumpdir = tmpTree();
    const run = tmpTree();
    const a = 'vzdump-101-2026_12_07-03_00_00.tar.zst';
    const files = {
      gone: [`${a}.n1.tmp`, `${a}.sha256.n1.tmp`, `${a}.auth.n1.tmp`],
      kept: [a, `${a}.sha256`, `${a}.auth`, `${a}.sha256.n2.tmp`, `${a}.auth.n2.tmp`, 'vzdump-1010-2026_12_07-03_00_00.tar.zst.auth.n1.tmp'],
    };
    for (const f of [...files.gone, ...files.kept]) fs.writeFileSync(path.join(dumpdir, f), '');
    const ctx = { cfg: { node: 'n1', paths: { run } } } as unknown as Context;
    removeStaleDumpFiles(ctx, dumpdir, 101);
    expect(fs.readdirSync(dumpdir).sort()).toEqual([...files.kept].sort());
  });
});
