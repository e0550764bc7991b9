import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { decodeAcl, encodeAcl, gateAcl, gateDir } from '../../../src/sys/acl.js';

const U = 0xffffffff;

describe('gate ACLs', () => {
  it('closes a directory to all but its owner, with search for each added uid, in the kernel order', () => {
    const acl = gateAcl([{ tag: 1, perm: 7, id: U }, { tag: 4, perm: 1, id: U }, { tag: 0x20, perm: 1, id: U }], [300000, 200000], []);
    const b = encodeAcl(acl);
    expect(decodeAcl(b)).toEqual([
      { tag: 1, perm: 7, id: U },
      { tag: 2, perm: 1, id: 200000 },
      { tag: 2, perm: 1, id: 300000 },
      { tag: 4, perm: 0, id: U },
      { tag: 0x10, perm: 1, id: U },
      { tag: 0x20, perm: 0, id: U },
    ]);
  });

  it('keeps an admin\'s own entries and removes a destroyed container\'s', () => {
    const cur = decodeAcl(encodeAcl(gateAcl([], [100, 200], [])));
    const next = gateAcl([...cur, { tag: 8, perm: 5, id: 50 }], [], [100]);
    expect(next.filter((e) => e.tag === 2)).toEqual([{ tag: 2, perm: 1, id: 200 }]);
    expect(next.find((e) => e.tag === 8)).toEqual({ tag: 8, perm: 5, id: 50 });
    expect(next.find((e) => e.tag === 0x10)?.perm).toBe(5);
    expect(gateAcl(next, [], [200]).some((e) => e.tag === 2)).toBe(false);
  });

  it.skipIf(!fs.existsSync('/usr/bin/getfacl'))('sets what getfacl reads back on a real directory', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-acl-'));
    try {
      fs.chmodSync(dir, 0o755);
      gateDir(dir, [4242]);
      const out = spawnSync('getfacl', ['-cpn', dir], { encoding: 'utf8' }).stdout;
      expect(out.trim().split('\n')).toEqual(['user::rwx', 'user:4242:--x', 'group::---', 'mask::--x', 'other::---']);
      gateDir(dir, [], [4242]);
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
