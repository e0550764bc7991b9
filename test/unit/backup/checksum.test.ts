/** verifyChecksum: the .sha256 beside an archive is someone else's file: never a hang on a FIFO, never a link followed. */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { verifyChecksum } from '../../../src/backup/checksum.js';

describe('verifyChecksum', () => {
  let dir: string;
  let archive: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-sum-'));
    archive = path.join(dir, 'vzdump-101-2026_12_07-03_00_00.tar');
    fs.writeFileSync(archive, 'archive bytes');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const sum = () => createHash('sha256').update('archive bytes').digest('hex');

  it('accepts a matching sha256sum line', async () => {
    fs.writeFileSync(`${archive}.sha256`, `${sum()}  ${path.basename(archive)}\n`);
    await expect(verifyChecksum(archive)).resolves.toBe(sum());
  });

  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    expect(spawnSync('mkfifo', [`${archive}.sha256`]).status).toBe(0);
    const t0 = Date.now();
    await expect(verifyChecksum(archive)).rejects.toThrow(/not a regular file/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('refuses a symbolic link and a huge file', async () => {
    fs.writeFileSync(path.join(dir, 'real'), `${sum()}  x\n`);
    fs.symlinkSync(path.join(dir, 'real'), `${archive}.sha256`);
    await expect(verifyChecksum(archive)).rejects.toThrow(/symbolic link/);
    fs.rmSync(`${archive}.sha256`);
    fs.writeFileSync(`${archive}.sha256`, Buffer.alloc(1 << 20, 0x61));
    await expect(verifyChecksum(archive)).rejects.toThrow(/too large/);
  });

  it('a missing one is still "no checksum"', async () => {
    await expect(verifyChecksum(archive)).rejects.toThrow(/no checksum beside/);
  });
});
