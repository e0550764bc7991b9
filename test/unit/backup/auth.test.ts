/**
 * Archive authenticators (auth.ts) and the node's backup key (backup-key.ts): made and verified,
 * and every change an attacker could make (the archive's bytes, its name, the hash, the tag, the
 * MAC, another key) fails; key files that are not root's own 32-byte 0600 files are refused; and
 * vzdumps that make the key at the same moment agree on one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { buildSync } from 'esbuild';
import { AUTH_TAG, authText, checkAuth, makeAuth, verifyAuthText, writeAuth } from '../../../src/backup/auth.js';
import { KEY_BYTES, ensureBackupKey, loadBackupKey } from '../../../src/backup/backup-key.js';
import { writeChecksum } from '../../../src/backup/checksum.js';
import { cleanupTmp, tmpTree, vzError } from '../config/helpers.js';

afterAll(cleanupTmp);

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const NAME = 'vzdump-101-2026_12_07-03_00_00.tar.zst';
const isRoot = process.getuid?.() === 0;

describe('archive authenticator', () => {
  const key = randomBytes(32);
  const hash = sha('archive bytes');

  it('is one line with the tag and an HMAC; it verifies for the same key, name and hash', () => {
    const text = makeAuth(key, NAME, hash);
    expect(text).toMatch(new RegExp(`^${AUTH_TAG} [0-9a-f]{64}\\n$`));
    expect(verifyAuthText(text, key, NAME, hash)).toEqual({ state: 'ok' });
    // The MACed text binds the tag, the hash and the name (JSON-quoted: a name cannot add a line).
    expect(authText(NAME, hash)).toBe(`${AUTH_TAG}\nsha256 ${hash}\nname "${NAME}"\n`);
    expect(authText('a\nsha256 x', hash)).toBe(`${AUTH_TAG}\nsha256 ${hash}\nname "a\\nsha256 x"\n`);
  });

  it('does not verify for other bytes, another name, a changed MAC or tag, or another key', () => {
    const text = makeAuth(key, NAME, hash);
    const bad = (t: string, k: Buffer | undefined, name: string, h: string) => verifyAuthText(t, k, name, h).state;
    expect(bad(text, key, NAME, sha('archive bytes!'))).toBe('bad'); // the archive's bytes changed
    expect(bad(text, key, 'vzdump-101-2026_12_08-03_00_00.tar.zst', hash)).toBe('bad'); // moved to another archive name
    expect(bad(text, key, 'vzdump-102-2026_12_07-03_00_00.tar.zst', hash)).toBe('bad'); // another CTID
    expect(bad(text, randomBytes(32), NAME, hash)).toBe('bad'); // another node's key
    expect(bad(text, undefined, NAME, hash)).toBe('bad'); // this node has no key
    const flipped = text.replace(/[0-9a-f](?=\n)/, (c) => (c === '0' ? '1' : '0'));
    expect(bad(flipped, key, NAME, hash)).toBe('bad');
    expect(verifyAuthText(text.replace(' v1 ', ' v2 '), key, NAME, hash)).toEqual({ state: 'bad', why: expect.stringMatching(/format "vzkit-archive-auth v2"/) });
    expect(bad(text.toUpperCase(), key, NAME, hash)).toBe('bad');
    expect(bad(`${text}${text}`, key, NAME, hash)).toBe('bad');
    expect(bad('', key, NAME, hash)).toBe('bad');
    // The MAC of another text (the tag not MACed, say) is not this one.
    const h = createHashHmac(key, `sha256 ${hash}\nname "${NAME}"\n`);
    expect(bad(`${AUTH_TAG} ${h}\n`, key, NAME, hash)).toBe('bad');
  });

  it('checkAuth: none without a file; a FIFO, a link or a large file is "bad" without blocking; the key is read only when needed', () => {
    const dir = tmpTree();
    const archive = path.join(dir, NAME);
    fs.writeFileSync(archive, 'archive bytes');
    let reads = 0;
    const k = () => (reads++, key);
    expect(checkAuth(archive, hash, k)).toEqual({ state: 'none' });
    expect(reads).toBe(0);
    writeAuth(archive, hash, key);
    expect(checkAuth(archive, hash, k)).toEqual({ state: 'ok' });
    expect(reads).toBe(1);
    // Renamed together with its .auth: the name no longer matches.
    const moved = path.join(dir, 'vzdump-101-2026_12_08-03_00_00.tar.zst');
    fs.copyFileSync(archive, moved);
    fs.copyFileSync(`${archive}.auth`, `${moved}.auth`);
    expect(checkAuth(moved, hash, k).state).toBe('bad');
    // A key this node refuses: untrusted, with the key's own error as the reason.
    expect(checkAuth(archive, hash, () => { throw new Error('backup key /k: has mode 0644, not 0600'); })).toEqual({ state: 'bad', why: 'backup key /k: has mode 0644, not 0600' });
    fs.rmSync(`${archive}.auth`);
    spawnSync('mkfifo', [`${archive}.auth`]);
    expect(checkAuth(archive, hash, k)).toEqual({ state: 'bad', why: 'it is not a regular file' });
    fs.rmSync(`${archive}.auth`);
    fs.writeFileSync(path.join(dir, 'elsewhere'), makeAuth(key, NAME, hash));
    fs.symlinkSync(path.join(dir, 'elsewhere'), `${archive}.auth`);
    expect(checkAuth(archive, hash, k)).toEqual({ state: 'bad', why: 'it is a symbolic link' });
    fs.rmSync(`${archive}.auth`);
    fs.writeFileSync(`${archive}.auth`, makeAuth(key, NAME, hash) + ' '.repeat(1 << 20));
    expect(checkAuth(archive, hash, k).state).toBe('bad');
  });

  it('leaves the .sha256 beside it in sha256sum format', () => {
    const dir = tmpTree();
    const archive = path.join(dir, NAME);
    fs.writeFileSync(archive, 'archive bytes');
    writeChecksum(archive, hash);
    writeAuth(archive, hash, key);
    expect(fs.readFileSync(`${archive}.sha256`, 'utf8')).toBe(`${hash}  ${NAME}\n`);
    expect(spawnSync('sha256sum', ['-c', `${NAME}.sha256`], { cwd: dir }).status).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual([NAME, `${NAME}.auth`, `${NAME}.sha256`]);
    expect(fs.statSync(`${archive}.auth`).mode & 0o777).toBe(0o600);
  });
});

function createHashHmac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}

describe('backup key file', () => {
  it('is made on first need: 32 random bytes, mode 0600, in a new root-only directory; then read back the same', () => {
    const file = path.join(tmpTree(), 'sub', 'backup.key');
    expect(loadBackupKey(file)).toBeUndefined();
    const k = ensureBackupKey(file);
    expect(k).toHaveLength(KEY_BYTES);
    const st = fs.statSync(file);
    expect(st.mode & 0o7777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(fs.readFileSync(file).equals(k)).toBe(true);
    expect(ensureBackupKey(file).equals(k)).toBe(true);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['backup.key']); // no temporary file left
    expect(ensureBackupKey(path.join(tmpTree(), 'backup.key')).equals(k)).toBe(false);
  });

  it('refuses, in one line, a key that is a link, a directory, a FIFO, readable by others, the wrong size, or in a directory others can write', () => {
    const dir = tmpTree();
    const file = path.join(dir, 'backup.key');
    const refused = (re: RegExp) => {
      const e = vzError(() => loadBackupKey(file), 'INVALID_CONFIG', re);
      expect(e.message).not.toMatch(/\n/);
      vzError(() => ensureBackupKey(file), 'INVALID_CONFIG', re); // never replaced by a new key either
    };
    fs.writeFileSync(path.join(dir, 'real'), randomBytes(32), { mode: 0o600 });
    fs.symlinkSync(path.join(dir, 'real'), file);
    refused(/backup\.key: is a symbolic link, not a regular file/);
    fs.rmSync(file);
    fs.mkdirSync(file);
    refused(/is not a regular file/);
    fs.rmdirSync(file);
    spawnSync('mkfifo', ['-m', '0600', file]);
    refused(/is not a regular file/);
    fs.rmSync(file);
    fs.writeFileSync(file, randomBytes(32), { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    refused(/has mode 0644, not 0600/);
    fs.chmodSync(file, 0o4600);
    refused(/has mode 4600, not 0600/);
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, randomBytes(31));
    refused(/is 31 bytes, not 32/);
    fs.writeFileSync(file, Buffer.alloc(0));
    refused(/is 0 bytes, not 32/);
    fs.writeFileSync(file, randomBytes(32));
    expect(loadBackupKey(file)).toHaveLength(32);
    fs.chmodSync(dir, 0o777);
    refused(/its directory .* can be written by others than root/);
    fs.chmodSync(dir, 0o700);
  });

  it.skipIf(!isRoot)('refuses a key owned by another user', () => {
    const dir = tmpTree();
    const file = path.join(dir, 'backup.key');
    fs.writeFileSync(file, randomBytes(32), { mode: 0o600 });
    fs.chownSync(file, 1000, 1000);
    vzError(() => loadBackupKey(file), 'INVALID_CONFIG', /is owned by uid 1000, not by root/);
  });

  it('vzdumps that make it at the same moment agree on one key', async () => {
    // The real module, bundled, in separate processes released at one instant.
    const dir = tmpTree();
    const script = path.join(dir, 'make-key.cjs');
    buildSync({
      stdin: {
        contents: `import { ensureBackupKey } from ${JSON.stringify(path.resolve('src/backup/backup-key.ts'))};
          const [file, at] = process.argv.slice(2);
          while (Date.now() < Number(at)) {}
          process.stdout.write(ensureBackupKey(file).toString('hex'));`,
        resolveDir: dir,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: script,
      logLevel: 'silent',
    });
    for (let round = 0; round < 3; round++) {
      const file = path.join(dir, `k${round}`, 'backup.key');
      const at = String(Date.now() + 1500);
      const outs = await Promise.all(
        Array.from({ length: 6 }, () =>
          new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
            const p = spawn(process.execPath, [script, file, at], { stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            let err = '';
            p.stdout.on('data', (d) => (out += String(d)));
            p.stderr.on('data', (d) => (err += String(d)));
            p.on('close', (code) => resolve({ code, out, err }));
          }),
        ),
      );
      for (const o of outs) expect(o).toMatchObject({ code: 0, err: '' });
      const keys = new Set(outs.map((o) => o.out));
      expect(keys.size).toBe(1);
      expect([...keys][0]).toBe(fs.readFileSync(file).toString('hex'));
      expect(fs.readdirSync(path.dirname(file))).toEqual(['backup.key']);
    }
  }, 60_000);
});
