/** A tree's metadata as the container sees it (ids relative to its base), for comparing round trips. */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';

export interface TreeEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  allocated?: number;
  sha?: string;
  target?: string;
  /** Paths sharing this entry's inode (hard links). */
  links?: string[];
  xattrs?: string;
  acl?: string;
}

function relIds(text: string, base: number): string {
  return text.replace(/\b\d{6,}\b/g, (m) => String(Number(m) - base));
}

export function readTree(root: string, base: number): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const byIno = new Map<number, string[]>();
  const walk = (rel: string) => {
    const p = path.join(root, rel);
    const st = fs.lstatSync(p);
    const e: TreeEntry = {
      type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other',
      mode: st.mode & 0o7777,
      uid: st.uid - base,
      gid: st.gid - base,
      size: st.isDirectory() ? 0 : st.size,
    };
    if (st.isFile()) {
      e.sha = crypto.createHash('sha1').update(fs.readFileSync(p)).digest('hex');
      e.allocated = st.blocks * 512;
      if (st.nlink > 1) byIno.set(st.ino, [...(byIno.get(st.ino) ?? []), rel || '.']);
    }
    if (st.isSymbolicLink()) e.target = fs.readlinkSync(p);
    const x = spawnSync('getfattr', ['-h', '-d', '-m', '^(user|trusted|security)\\.', '--absolute-names', p], { encoding: 'utf8' }).stdout;
    e.xattrs = x.split('\n').filter((l) => l && !l.startsWith('#')).join(';');
    if (!st.isSymbolicLink()) {
      const acl = spawnSync('getfacl', ['-n', '-p', '-c', p], { encoding: 'utf8' }).stdout;
      e.acl = relIds(acl.trim(), base);
    }
    out[rel || '.'] = e;
    if (st.isDirectory()) for (const c of fs.readdirSync(p).sort()) walk(path.join(rel, c));
  };
  walk('');
  for (const paths of byIno.values()) for (const p of paths) out[p]!.links = [...paths].sort();
  return out;
}
