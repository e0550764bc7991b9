import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { changedSince } from '../../../migrate/changed.js';

/** A tree whose entries all carry ctimes of before `since` (made, then the clock moves on). */
function tree(): { root: string; since: number } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-changed-'));
  for (const d of ['a/b', 'c', 'keep']) fs.mkdirSync(path.join(root, d), { recursive: true });
  for (const f of ['a/b/old', 'c/f', 'keep/k']) fs.writeFileSync(path.join(root, f), 'x');
  const newest = Math.max(...['', 'a', 'a/b', 'c', 'keep', 'a/b/old', 'c/f', 'keep/k'].map((p) => fs.statSync(path.join(root, p)).ctimeMs));
  return { root, since: newest / 1000 + 0.001 };
}

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 20)); // past the file system clock's tick
}

describe('changedSince (the final sync list of vzmigrate)', () => {
  it('lists what changed after the moment, a changed directory instead of what is below it', async () => {
    const { root, since } = tree();
    try {
      await settle();
      fs.writeFileSync(path.join(root, 'c/f'), 'changed'); // content: the file only
      fs.writeFileSync(path.join(root, 'a/b/new'), 'n'); // a new entry: its directory goes whole
      fs.chmodSync(path.join(root, 'keep/k'), 0o600); // mode only
      const list = await changedSince(root, since, false);
      expect(list?.sort()).toEqual(['a/b', 'c/f', 'keep/k']);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('nothing changed: an empty list; the root changed: null (the whole tree goes)', async () => {
    const { root, since } = tree();
    try {
      expect(await changedSince(root, since, false)).toEqual([]);
      await settle();
      fs.writeFileSync(path.join(root, 'top'), 't');
      expect(await changedSince(root, since, false)).toBeNull();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('a name that is not UTF-8 comes back byte for byte (latin1)', async () => {
    const { root, since } = tree();
    try {
      await settle();
      const name = Buffer.from([0x66, 0xff, 0xfe, 0x0a, 0x67]); // f \xff \xfe \n g
      fs.writeFileSync(Buffer.concat([Buffer.from(path.join(root, 'c') + '/'), name]), 'x');
      const list = await changedSince(root, since, false);
      expect(list).toEqual(['c']);
      fs.writeFileSync(path.join(root, 'keep/k'), 'y');
      await settle();
      const only = await changedSince(root, fs.statSync(path.join(root, 'c')).ctimeMs / 1000 + 0.001, false);
      expect(only).toEqual(['keep/k']);
      // Inside c, the odd name itself: listed when it changes.
      await settle();
      const t = fs.statSync(path.join(root, 'keep/k')).ctimeMs / 1000 + 0.001;
      await settle();
      fs.appendFileSync(Buffer.concat([Buffer.from(path.join(root, 'c') + '/'), name]), 'z');
      const odd = await changedSince(root, t, false);
      expect(odd?.map((p) => Buffer.from(p, 'latin1'))).toEqual([Buffer.concat([Buffer.from('c/'), name])]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
