/**
 * Shifts the ownership of a tree into a container's uid/gid range (uid u -> base + u), the way
 * LXC's uidmapshift and Incus's shift do, so root inside the user namespace owns its files.
 * lchown never follows symlinks; setuid/setgid bits are restored (chown clears them).
 */
import fs from 'node:fs';
import path from 'node:path';

export function shiftTree(root: string, base: number, size: number, from = 0): void {
  const shift = (p: string, st: fs.Stats) => {
    const uid = st.uid - from;
    const gid = st.gid - from;
    if (uid < 0 || uid >= size || gid < 0 || gid >= size) {
      throw new Error(`${p}: owner ${st.uid}:${st.gid} is outside the range being shifted`);
    }
    fs.lchownSync(p, base + uid, base + gid);
    if (!st.isSymbolicLink() && st.mode & 0o6000) fs.chmodSync(p, st.mode & 0o7777);
  };
  shift(root, fs.lstatSync(root));
  const linked = new Set<number>(); // hard links: one inode, shifted once
  const walk = (dir: string) => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      const st = fs.lstatSync(p);
      if (st.nlink > 1 && !st.isDirectory()) {
        if (linked.has(st.ino)) continue;
        linked.add(st.ino);
      }
      shift(p, st);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
}
