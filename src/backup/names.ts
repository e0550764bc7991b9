/**
 * Archive file names, Proxmox style: vzdump-CTID-YYYY_MM_DD-HH_MM_SS.tar[.zst|.gz] (local time),
 * with the SHA-256 beside it in NAME.sha256 (sha256sum's format). Retention reads the time and
 * CTID back from the name, so archives copied elsewhere keep their place in the policy.
 */
import path from 'node:path';

export const COMPRESSIONS = ['zstd', 'gzip', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

const EXT: Record<Compression, string> = { zstd: '.tar.zst', gzip: '.tar.gz', none: '.tar' };
const RE = /^vzdump-(\d+)-(\d{4})_(\d\d)_(\d\d)-(\d\d)_(\d\d)_(\d\d)\.tar(\.zst|\.gz)?$/;

const pad = (n: number) => String(n).padStart(2, '0');

export function archiveName(ctid: number, at: Date, c: Compression): string {
  const t = `${at.getFullYear()}_${pad(at.getMonth() + 1)}_${pad(at.getDate())}-${pad(at.getHours())}_${pad(at.getMinutes())}_${pad(at.getSeconds())}`;
  return `vzdump-${ctid}-${t}${EXT[c]}`;
}

export interface ParsedArchiveName {
  ctid: number;
  time: Date;
  compression: Compression;
}

export function parseArchiveName(file: string): ParsedArchiveName | undefined {
  const m = RE.exec(path.basename(file));
  if (!m) return undefined;
  const [, ctid, y, mo, d, h, mi, s, ext] = m;
  return {
    ctid: Number(ctid),
    time: new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)),
    compression: ext === '.zst' ? 'zstd' : ext === '.gz' ? 'gzip' : 'none',
  };
}

/** The compression of an archive, from its name (any name ending like ours). */
export function compressionOf(file: string): Compression {
  if (file.endsWith('.zst')) return 'zstd';
  if (file.endsWith('.gz') || file.endsWith('.tgz')) return 'gzip';
  return 'none';
}

export function checksumFile(archive: string): string {
  return `${archive}.sha256`;
}

/** The archive's authenticator (auth.ts): an HMAC with the node's backup key, beside the .sha256. */
export function authFile(archive: string): string {
  return `${archive}.auth`;
}
