/** SHA-256 of an archive, kept beside it in sha256sum's format (so `sha256sum -c` works too). */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { VzError } from '../base/errors.js';
import { readSmallFile } from '../sys/smallfile.js';
import { checksumFile } from './names.js';

/** `node` names the temporary file: nodes that share a dump directory never remove each other's. */
export function writeChecksum(archive: string, sha256: string, node = 'vz'): void {
  const tmp = `${checksumFile(archive)}.${node}.tmp`;
  fs.writeFileSync(tmp, `${sha256}  ${path.basename(archive)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, checksumFile(archive));
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Throws a one-line INVALID error unless the archive matches its recorded checksum. */
export async function verifyChecksum(archive: string): Promise<string> {
  const sumFile = checksumFile(archive);
  // Whoever handed the archive over made this file too: a FIFO or a huge file must not hang us.
  const r = readSmallFile(sumFile, 64 * 1024);
  if (!r.ok) {
    if (r.code === 'ENOENT') throw new VzError('INVALID', `no checksum beside ${archive} (expected ${sumFile})`, { hint: 'an archive without its .sha256 cannot be verified' });
    const why = r.code === 'ELOOP' ? 'a symbolic link' : r.code === 'NOTREG' ? 'not a regular file' : r.code === 'TOOBIG' ? `${r.size} bytes, too large` : `unreadable (${r.code})`;
    throw new VzError('INVALID', `${sumFile} is ${why}: the archive cannot be verified`, { hint: 'nothing was restored' });
  }
  const text = r.text;
  const want = /^([0-9a-f]{64})\b/.exec(text)?.[1];
  if (!want) throw new VzError('INVALID', `${sumFile} holds no SHA-256`);
  const got = await sha256File(archive);
  if (got !== want) {
    throw new VzError('INVALID', `${archive} is corrupt or truncated: SHA-256 ${got.slice(0, 16)}... does not match the recorded ${want.slice(0, 16)}...`, {
      hint: 'nothing was restored',
    });
  }
  return got;
}
