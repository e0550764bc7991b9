import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VzError, type ErrorCodeName } from '../../../src/base/errors.js';
import { ct, openDb, tmpDir } from './helpers.js';

/** Runs fn and returns the VzError it throws (fails the test otherwise). */
function vzErr(fn: () => unknown, code: ErrorCodeName): VzError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VzError);
    expect((e as VzError).code).toBe(code);
    return e as VzError;
  }
  throw new Error(`expected VzError ${code}`);
}

describe('containers', () => {
  it('insert, get, find, list (ordered by ctid), delete', () => {
    const db = openDb();
    db.insertContainer(ct(300));
    const r = db.insertContainer(ct(101, { name: 'web', profile: 'basic', state: 'creating' }));
    db.insertContainer(ct(200));
    expect(r).toMatchObject({ ctid: 101, name: 'web', ostemplate: 'debian-12-x86_64', profile: 'basic', uidSize: 65536, state: 'creating' });
    expect(r.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(r.stateChangedAt).toBe(r.createdAt);
    expect(db.getContainer(101)).toEqual(r);
    expect(db.findByName('web')).toEqual(r);
    expect(db.findByName('nope')).toBeUndefined();
    expect(db.getContainer(300)?.name).toBeNull();
    expect(db.listContainers().map((c) => c.ctid)).toEqual([101, 200, 300]);
    expect(db.deleteContainer(200)).toBe(true);
    expect(db.deleteContainer(200)).toBe(false);
    expect(db.getContainer(200)).toBeUndefined();
    expect(db.listContainers().map((c) => c.ctid)).toEqual([101, 300]);
  });

  it('delete cascades to params', () => {
    const db = openDb();
    db.insertContainer(ct(101));
    db.setParams(101, { hostname: 'a' });
    db.deleteContainer(101);
    db.insertContainer(ct(101));
    expect(db.getParams(101)).toEqual({});
  });

  it('duplicate ctid -> EXISTS, duplicate name -> INVALID naming the owner', () => {
    const db = openDb();
    db.insertContainer(ct(101, { name: 'web' }));
    const e1 = vzErr(() => db.insertContainer(ct(101)), 'EXISTS');
    expect(e1.exit).toBe(44);
    expect(e1.message).toBe('CT 101 already exists');
    const e2 = vzErr(() => db.insertContainer(ct(102, { name: 'web' })), 'INVALID');
    expect(e2.message).toBe('name web is already used by CT 101');
    // the failed inserts left nothing behind
    expect(db.listContainers().map((c) => c.ctid)).toEqual([101]);
    expect(db.transitions(102, 10)).toEqual([]);
    expect(db.insertContainer(ct(102)).idmapSlot).toBe(1);
  });

  it('setName renames, clears, and rejects a used name or unknown CT', () => {
    const db = openDb();
    db.insertContainer(ct(101, { name: 'web' }));
    db.insertContainer(ct(102, { name: 'db' }));
    expect(vzErr(() => db.setName(102, 'web'), 'INVALID').message).toBe('name web is already used by CT 101');
    db.setName(101, 'web'); // own name: fine
    db.setName(101, null);
    db.setName(102, 'web');
    expect(db.findByName('web')?.ctid).toBe(102);
    expect(db.getContainer(101)?.name).toBeNull();
    vzErr(() => db.setName(999, 'x'), 'NOT_FOUND');
  });
});

describe('idmap slots', () => {
  const opts = { uidSize: 1000, idmapBase: 200000, idmapCount: 3 };

  it('allocates the lowest free slot, uid_base = base + slot*size', () => {
    const db = openDb();
    const rows = [101, 102, 103].map((id) => db.insertContainer(ct(id, opts)));
    expect(rows.map((r) => [r.idmapSlot, r.uidBase])).toEqual([[0, 200000], [1, 201000], [2, 202000]]);
  });

  it('fails cleanly when exhausted and reuses freed slots', () => {
    const db = openDb();
    for (const id of [101, 102, 103]) db.insertContainer(ct(id, opts));
    const e = vzErr(() => db.insertContainer(ct(104, opts)), 'SYSTEM');
    expect(e.message).toMatch(/no free uid range/);
    expect(db.getContainer(104)).toBeUndefined();
    db.deleteContainer(102);
    expect(db.insertContainer(ct(104, opts)).idmapSlot).toBe(1);
    db.deleteContainer(101);
    db.deleteContainer(103);
    expect(db.insertContainer(ct(105, opts)).idmapSlot).toBe(0);
    expect(db.insertContainer(ct(106, opts)).idmapSlot).toBe(2);
  });
});

describe('state', () => {
  it('setState updates the row and records transitions, newest first', () => {
    const db = openDb();
    db.insertContainer(ct(101, { state: 'creating' }));
    db.setState(101, 'stopped', 'created');
    db.setState(101, 'starting');
    db.setState(101, 'starting'); // same state: no-op
    db.setState(101, 'running', 'start');
    expect(db.getContainer(101)?.state).toBe('running');
    const t = db.transitions(101, 10);
    expect(t.map((r) => [r.fromState, r.toState, r.reason])).toEqual([
      ['starting', 'running', 'start'],
      ['stopped', 'starting', null],
      ['creating', 'stopped', 'created'],
      [null, 'creating', 'created'],
    ]);
    expect(t[0]!.at).toBe(db.getContainer(101)?.stateChangedAt);
    expect(db.transitions(101, 2)).toHaveLength(2);
    vzErr(() => db.setState(999, 'running'), 'NOT_FOUND');
  });

  it('transitions outlive the container', () => {
    const db = openDb();
    db.insertContainer(ct(101));
    db.deleteContainer(101);
    expect(db.transitions(101, 10).map((r) => [r.fromState, r.toState, r.reason])).toEqual([
      ['stopped', null, 'deleted'],
      [null, 'stopped', 'created'],
    ]);
  });
});

describe('params', () => {
  it('round-trip JSON types, upsert, delete on undefined', () => {
    const db = openDb();
    db.insertContainer(ct(101));
    const p = { s: 'héllo ✓', n: 1.5, big: 2 ** 53 - 1, neg: -3, t: true, f: false, z: null, a: [1, 'x', null], o: { x: { y: [] } }, e: '' };
    db.setParams(101, p);
    expect(db.getParams(101)).toEqual(p);
    db.setParams(101, { n: 2, s: undefined, added: 'x' });
    const { s: _s, ...rest } = p;
    expect(db.getParams(101)).toEqual({ ...rest, n: 2, added: 'x' });
    expect(db.getParams(999)).toEqual({});
  });

  it('setParams is atomic and rejects unknown CTs and unstorable values', () => {
    const db = openDb();
    db.insertContainer(ct(101));
    db.setParams(101, { a: 1 });
    vzErr(() => db.setParams(101, { a: 2, b: 10n }), 'INVALID');
    expect(db.getParams(101)).toEqual({ a: 1 });
    vzErr(() => db.setParams(999, { a: 1 }), 'NOT_FOUND');
  });
});

describe('oplog', () => {
  it('beginOp/endOp/recentOps', () => {
    const db = openDb();
    const a = db.beginOp(101, 'create');
    db.endOp(a, 'ok');
    const b = db.beginOp(101, 'start');
    db.beginOp(102, 'start');
    db.beginOp(null, 'gc'); // host-wide
    let ops = db.recentOps(101, 10);
    expect(ops.map((o) => [o.op, o.result])).toEqual([['start', 'running'], ['create', 'ok']]);
    expect(ops[0]).toMatchObject({ id: b, ctid: 101, pid: process.pid, endedAt: null, detail: null });
    db.endOp(b, 'error', 'init exited 1');
    ops = db.recentOps(101, 1);
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ id: b, result: 'error', detail: 'init exited 1' });
    expect(ops[0]!.endedAt).not.toBeNull();
  });
});

describe('transaction', () => {
  it('rolls back every change when fn throws; nests', () => {
    const db = openDb();
    db.insertContainer(ct(101));
    expect(() =>
      db.transaction(() => {
        db.setState(101, 'running');
        db.transaction(() => db.insertContainer(ct(102)));
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(db.getContainer(101)?.state).toBe('stopped');
    expect(db.getContainer(102)).toBeUndefined();
    expect(db.transaction(() => db.insertContainer(ct(103)).idmapSlot)).toBe(1);
  });
});

describe('readonly open', () => {
  it('of a missing file: creates nothing, behaves as empty, refuses writes', () => {
    const file = join(tmpDir(), 'missing.db');
    const db = openDb(file, { readonly: true });
    expect(db.readonly).toBe(true);
    expect(db.listContainers()).toEqual([]);
    expect(db.getContainer(101)).toBeUndefined();
    expect(db.getParams(101)).toEqual({});
    expect(db.recentOps(101, 5)).toEqual([]);
    vzErr(() => db.beginOp(101, 'x'), 'SYSTEM');
    vzErr(() => db.insertContainer(ct(101)), 'SYSTEM');
    db.close();
    expect(existsSync(file)).toBe(false);
  });

  it('of a file not yet initialised (0 bytes) behaves as empty and leaves it alone', () => {
    const file = join(tmpDir(), 'state.db');
    writeFileSync(file, '');
    expect(openDb(file, { readonly: true }).listContainers()).toEqual([]);
    expect(statSync(file).size).toBe(0);
  });

  it("of an existing file sees a writer's commits and refuses writes", () => {
    const file = join(tmpDir(), 'state.db');
    const w = openDb(file);
    w.insertContainer(ct(101, { name: 'web' }));
    const r = openDb(file, { readonly: true });
    expect(r.findByName('web')?.ctid).toBe(101);
    w.setState(101, 'running');
    expect(r.getContainer(101)?.state).toBe('running');
    vzErr(() => r.setState(101, 'stopped'), 'SYSTEM');
  });

  it('open of a path in a missing directory is a SYSTEM VzError', () => {
    vzErr(() => openDb(join(tmpDir(), 'no/such/dir/state.db')), 'SYSTEM');
  });
});

describe('no write lock held while encoding', () => {
  it('setParams encodes its values before the transaction: another process may write meanwhile', () => {
    const file = join(tmpDir(), 'state.db');
    const db = openDb(file);
    db.insertContainer(ct(101));
    // A second connection, as another vzctl would have, that does not wait for a lock.
    const other = openDb(file, { busyTimeoutMs: 0 });
    let wrote = false;
    // Encoding this value stands for a slow one (a huge value from an archive): while it runs,
    // the other connection writes.
    const slow = {
      toJSON() {
        other.insertContainer(ct(102));
        wrote = true;
        return 'v';
      },
    };
    db.setParams(101, { slow });
    expect(wrote).toBe(true);
    expect(db.getParams(101)).toEqual({ slow: 'v' });
    expect(db.getContainer(102)?.ctid).toBe(102);
  });
});
