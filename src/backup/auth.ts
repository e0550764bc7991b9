/**
 * An archive's authenticator, ARCHIVE.auth, one line: `vzkit-archive-auth v1 HEX`, HEX being
 * HMAC-SHA256 with the node's backup key (backup-key.ts) over this text:
 *
 *   vzkit-archive-auth v1
 *   sha256 <the archive's SHA-256, 64 lowercase hex digits>
 *   name <the archive's file name, as a JSON string>
 *
 * The .sha256 beside it is a checksum anyone can write; this one only a holder of the key can.
 * The hash binds the archive's bytes (vzrestore checks them against it first), the name binds
 * the CTID and time that retention and the admin go by, so an authenticator moved to another
 * archive, or to the same archive under another name, does not verify. The tag is MACed too, so
 * a later format cannot be passed off as this one. The name is JSON-quoted: no name can spell
 * another line of the text.
 */
import fs from 'node:fs';
import { readSmallFile } from '../sys/smallfile.js';
import path from 'node:path';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { authFile } from './names.js';

export const AUTH_TAG = 'vzkit-archive-auth v1';
const AUTH_MAX = 256; // the line is 87 bytes; anything much larger is not ours

export function authText(name: string, sha256: string): string {
  return `${AUTH_TAG}\nsha256 ${sha256}\nname ${JSON.stringify(name)}\n`;
}

function mac(key: Buffer, name: string, sha256: string): Buffer {
  return createHmac('sha256', key).update(authText(name, sha256)).digest();
}

/** The file's content for this archive. */
export function makeAuth(key: Buffer, name: string, sha256: string): string {
  return `${AUTH_TAG} ${mac(key, name, sha256).toString('hex')}\n`;
}

/** Writes ARCHIVE.auth (through ARCHIVE.auth.NODE.tmp, renamed when whole). */
export function writeAuth(archive: string, sha256: string, key: Buffer, node = 'vz'): void {
  const file = authFile(archive);
  const tmp = `${file}.${node}.tmp`;
  fs.writeFileSync(tmp, makeAuth(key, path.basename(archive), sha256), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export type AuthCheck =
  | { state: 'none' } // no ARCHIVE.auth: an archive of another node, or of an older vzdump
  | { state: 'ok' }
  | { state: 'bad'; why: string }; // there is one, and it does not verify here

/** Whether `text` (an .auth file's content) authenticates the archive `name` of hash `sha256`. */
export function verifyAuthText(text: string, key: Buffer | undefined, name: string, sha256: string): AuthCheck {
  const m = /^(vzkit-archive-auth v\S+) ([0-9a-f]{64})\n?$/.exec(text);
  if (!m) return { state: 'bad', why: `it holds no "${AUTH_TAG} HMAC" line` };
  if (m[1] !== AUTH_TAG) return { state: 'bad', why: `its format ${JSON.stringify(m[1])} is not ${JSON.stringify(AUTH_TAG)}` };
  if (!key) return { state: 'bad', why: 'this node has no backup key' };
  const ok = timingSafeEqual(Buffer.from(m[2]!, 'hex'), mac(key, name, sha256));
  return ok
    ? { state: 'ok' }
    : { state: 'bad', why: "it does not match this node's backup key: the archive or its name changed since vzdump made it, or another node's key made it" };
}

/**
 * Checks ARCHIVE.auth against the archive's verified SHA-256. The file is whoever handed the
 * archive over's: read without following a link or blocking on a FIFO, regular files only,
 * size-capped. The key is read only when there is an authenticator to check.
 */
export function checkAuth(archive: string, sha256: string, key: () => Buffer | undefined): AuthCheck {
  let k: Buffer | undefined;
  const file = authFile(archive);
  const r = readSmallFile(file, AUTH_MAX);
  if (!r.ok) {
    if (r.code === 'ENOENT') return { state: 'none' };
    if (r.code === 'ELOOP') return { state: 'bad', why: 'it is a symbolic link' };
    if (r.code === 'NOTREG') return { state: 'bad', why: 'it is not a regular file' };
    if (r.code === 'TOOBIG') return { state: 'bad', why: `it is ${r.size} bytes, not one line` };
    return { state: 'bad', why: `it cannot be read (${r.code})` };
  }
  const text = r.text;
  try {
    k = key();
  } catch (e) {
    // A key this node refuses (its mode, owner, size) vouches for nothing: untrusted, and said why.
    return { state: 'bad', why: (e as Error).message };
  }
  return verifyAuthText(text, k, path.basename(archive), sha256);
}
