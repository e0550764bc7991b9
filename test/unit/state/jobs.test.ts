/** The jobs and job_runs tables through JobStore (schema v2). */
import { describe, it, expect } from 'vitest';
import { openDb } from './helpers.js';

describe('JobStore', () => {
  it('adds, finds, lists and removes jobs; names are unique', () => {
    const store = openDb().jobs();
    const j = store.add({ name: 'nightly', kind: 'backup', schedule: '0 2 * * *', ctids: 'all', options: { mode: 'suspend', keepDaily: 7 } });
    expect(j).toMatchObject({ name: 'nightly', kind: 'backup', ctids: 'all', options: { mode: 'suspend', keepDaily: 7 }, enabled: true, lastFire: null });
    expect(Date.parse(j.createdAt!)).toBeGreaterThan(0);
    store.add({ name: 'evac', kind: 'migrate', schedule: '0 2 * * 6', ctids: [101, 102], options: { destination: 'node2', online: true } });
    expect(store.list().map((x) => x.name)).toEqual(['nightly', 'evac']);
    expect(store.byName('evac')?.ctids).toEqual([101, 102]);
    expect(() => store.add({ name: 'nightly', kind: 'backup', schedule: '* * * * *', ctids: [1], options: {} })).toThrow(/already exists/);
    const at = new Date(2026, 0, 1, 2);
    store.setLastFire(j.id, at);
    expect(store.get(j.id)?.lastFire).toBe(at.toISOString());
    expect(store.remove(j.id)).toBe(true);
    expect(store.remove(j.id)).toBe(false);
    expect(store.byName('nightly')).toBeUndefined();
  });

  it('records runs with status, duration, size, archive and error; removing a job removes its history', () => {
    const store = openDb().jobs();
    const j = store.add({ name: 'b', kind: 'backup', schedule: '0 2 * * *', ctids: [101], options: {} });
    const id = store.beginRun(j.id, 101, 'schedule');
    expect(store.running().map((r) => r.id)).toEqual([id]);
    expect(store.running()[0]).toMatchObject({ result: 'running', pid: process.pid, trigger: 'schedule', endedAt: null });
    store.endRun(id, { result: 'ok', size: 1234, archive: '/d/a.tar.zst', detail: 'frozen 50 ms' });
    store.skipped(j.id, null, 'schedule', 'the previous run of this job is still in progress');
    const id2 = store.beginRun(j.id, 102, 'manual');
    store.endRun(id2, { result: 'error', error: 'CT 102 does not exist' });
    const runs = store.runs({ jobId: j.id });
    expect(runs.map((r) => [r.ctid, r.result])).toEqual([[102, 'error'], [null, 'skipped'], [101, 'ok']]);
    expect(runs[2]).toMatchObject({ size: 1234, archive: '/d/a.tar.zst', detail: 'frozen 50 ms', error: null });
    expect(runs[2]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(runs[0]!.error).toBe('CT 102 does not exist');
    expect(store.running()).toEqual([]);
    store.remove(j.id);
    expect(store.runs()).toEqual([]);
  });
});
