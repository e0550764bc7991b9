/** criuRestoresListeners: whether a criu binary carries criu-patches/0002 (it names CRIU_SECCOMP_LISTENER_FD). */
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { criuRestoresListeners } from '../../../src/criu/criu.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-criubin-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const bin = (name: string, parts: Buffer[]) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, Buffer.concat(parts));
  return f;
};
const NEEDLE = Buffer.from('CRIU_SECCOMP_LISTENER_FD');

describe('criuRestoresListeners', () => {
  it('finds the name anywhere, also across the 1 MiB read chunks', () => {
    expect(criuRestoresListeners(bin('small', [Buffer.from('\x7fELF...'), NEEDLE, Buffer.from('\0')]))).toBe(true);
    // Split over the first chunk boundary: 10 bytes before it, the rest after.
    expect(criuRestoresListeners(bin('split', [Buffer.alloc((1 << 20) - 10), NEEDLE, Buffer.alloc(100)]))).toBe(true);
  });
  it('says no for a binary without it, a directory, a missing file, a partial name', () => {
    expect(criuRestoresListeners(bin('stock', [Buffer.alloc(3 << 20, 0x41)]))).toBe(false);
    expect(criuRestoresListeners(bin('partial', [Buffer.alloc((1 << 20) - 10), NEEDLE.subarray(0, 20)]))).toBe(false);
    expect(criuRestoresListeners(dir)).toBe(false);
    expect(criuRestoresListeners(path.join(dir, 'none'))).toBe(false);
  });
});
