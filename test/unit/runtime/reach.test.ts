import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rootIds, unreachableHint } from '../../../src/runtime/reach.js';

describe('unreachableHint', () => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-reach-'));
  afterAll(() => fs.rmSync(top, { recursive: true, force: true }));
  const inner = path.join(top, 'a', 'b', 'root', '101');
  fs.mkdirSync(inner, { recursive: true });

  it('names the first directory whose mode bits deny search, with the chmod to run', () => {
    fs.chmodSync(top, 0o711);
    fs.chmodSync(path.join(top, 'a'), 0o700);
    const h = unreachableHint(inner, 7_000_000, 7_000_000);
    expect(h).toContain(`cannot pass ${path.join(top, 'a')} (mode 0700)`);
    expect(h).toContain(`chmod o+x ${path.join(top, 'a')}`);
  });

  it('nothing when every directory above lets others search; owner and group bits count for their ids', () => {
    fs.chmodSync(path.join(top, 'a'), 0o711);
    expect(unreachableHint(inner, 7_000_000, 7_000_000)).toBeUndefined();
    fs.chmodSync(path.join(top, 'a'), 0o710);
    fs.chownSync(path.join(top, 'a'), 0, 7_000_000);
    expect(unreachableHint(inner, 7_000_000, 7_000_000)).toBeUndefined();
    expect(unreachableHint(inner, 8_000_000, 8_000_000)).toContain('(mode 0710)');
  });

  it('reads the root ids from the maps', () => {
    expect(rootIds('0 7000000 65536\n', '0 7000001 65536\n')).toEqual({ uid: 7_000_000, gid: 7_000_001 });
  });
});
