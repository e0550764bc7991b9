/**
 * Why the container's root could not reach its root file system: the helper binds it as the
 * container's root (an unprivileged host uid), which needs search permission on every directory
 * above it. Asked only after an EACCES (ACLs may grant what the mode bits do not show).
 */
import fs from 'node:fs';
import path from 'node:path';

/** The first directory above `dir` whose mode bits deny search to `uid`/`gid`, with a hint; or undefined. */
export function unreachableHint(dir: string, uid: number, gid: number): string | undefined {
  for (let d = path.dirname(path.resolve(dir)); ; d = path.dirname(d)) {
    let st: fs.Stats;
    try {
      st = fs.statSync(d);
    } catch {
      return undefined;
    }
    const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
    if (!(st.mode & bit)) {
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      return `the container's root (host uid ${uid}) cannot pass ${d} (mode ${mode}): make every directory above ${dir} searchable, e.g. chmod o+x ${d}`;
    }
    if (d === path.dirname(d)) return undefined;
  }
}

/** The host uid and gid of the container's root, from "0 HOSTID COUNT" maps. */
export function rootIds(uidMap: string, gidMap: string): { uid: number; gid: number } {
  const first = (m: string) => Number(/^\s*0\s+(\d+)/m.exec(m)?.[1] ?? NaN);
  return { uid: first(uidMap), gid: first(gidMap) };
}
