/**
 * Shifts the ownership of a tree into a container's uid/gid range (uid u -> base + u), the way
 * LXC's uidmapshift and Incus's shift do, so root inside the user namespace owns its files.
 * lchown never follows symlinks; setuid/setgid bits are restored (chown clears them).
 * An owner outside the range is an error, or with keepOutside stays as it is (a migration moves
 * a tree between ranges: a host-owned file inside keeps its host owner, as the source had it).
 */
import fs from 'node:fs';
import path from 'node:path';

export function shiftTree(root: string, base: number, size: number, from = 0, keepOutside = false): void {
  const inside = (id: number) => id - from >= 0 && id - from < size;
  const shift = (p: string, st: fs.Stats) => {
    if (!keepOutside && (!inside(st.uid) || !inside(st.gid))) {
      throw new Error(`${p}: owner ${st.uid}:${st.gid} is outside the range being shifted`);
    }
    const uid = inside(st.uid) ? base + st.uid - from : st.uid;
    const gid = inside(st.gid) ? base + st.gid - from : st.gid;
    if (uid === st.uid && gid === st.gid) return;
    fs.lchownSync(p, uid, gid);
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
