/**
 * core's recovery registry: journals run/CTID.KIND are handed to the recovery their kind
 * registered, with what the locked operation wants; the lock layer knows no kind itself.
 */
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../../../src/core/context.js';
import { journalFile, pendingCtids, readJournalFile, recoverPending, registerRecovery, registeredKinds, removeJournalFile, writeJournalFile } from '../../../src/core/recovery.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-recovery-'));
const ctx = { cfg: { paths: { run: dir } } } as unknown as Context;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('recovery registry', () => {
  it('runs the registered recovery of each journal a container has, with the operation\'s wants', async () => {
    const calls: string[] = [];
    registerRecovery({
      kind: 'testkind',
      recover: (_c, ctid, o) => {
        calls.push(`${ctid} ${o.wants ?? '-'} ${readJournalFile<{ n: number }>(ctx, ctid, 'testkind')?.n}`);
        removeJournalFile(ctx, ctid, 'testkind');
      },
    });
    writeJournalFile(ctx, 7, 'testkind', { n: 1 });
    writeJournalFile(ctx, 12, 'testkind', { n: 2 });
    fs.writeFileSync(path.join(dir, '9.unknownkind'), '{}'); // no recovery registered: not ours
    fs.writeFileSync(path.join(dir, '9.pid'), '1 2');
    expect(pendingCtids(ctx)).toEqual([7, 12]);
    await recoverPending(ctx, 7, { wants: 'stopped' });
    await recoverPending(ctx, 12);
    await recoverPending(ctx, 9);
    expect(calls).toEqual(['7 stopped 1', '12 - 2']);
    expect(fs.existsSync(journalFile(ctx, 7, 'testkind'))).toBe(false);
    expect(pendingCtids(ctx)).toEqual([]);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('the commands register the migrate and vzdump journals; core/lock.ts and recovery.ts import neither', async () => {
    await import('../../../src/cli/recoveries.js');
    expect(registeredKinds()).toEqual(expect.arrayContaining(['migrating', 'vzdump']));
    const root = path.resolve(__dirname, '../../..');
    for (const f of ['src/core/lock.ts', 'src/core/recovery.ts', 'src/sys/lock.ts']) {
      expect({ f, up: /from '(\.\.\/)+(migrate|backup|sched|cli)\//.test(fs.readFileSync(path.join(root, f), 'utf8')) }).toEqual({ f, up: false });
    }
    for (const f of ['src/cli/main.ts', 'src/cli/standalone.ts', 'src/cli/vzmigrate.ts']) {
      expect({ f, imports: fs.readFileSync(path.join(root, f), 'utf8').includes("import './recoveries.js';") }).toEqual({ f, imports: true });
    }
  });
});
