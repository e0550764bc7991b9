/**
 * The "dir" driver: the private area is a directory, mounted by a private bind mount.
 * (Per-container project quotas on it come with the quota issue.)
 */
import fs from 'node:fs';
import { bindMount, isMountPoint, mountsUnder, umount } from '../sys/mounts.js';
import type { DiskUsage, StorageDriver, StorageTarget } from './types.js';
import { systemError } from '../core/errors.js';

export class DirDriver implements StorageDriver {
  readonly name = 'dir';
  readonly caps = { quota: false, snapshot: false, send: false };

  create(t: StorageTarget, populate: (dir: string) => void): void {
    // Build next to the final place and rename: a killed create never leaves a half area behind
    // under the real name.
    const tmp = `${t.privatePath}.creating`;
    fs.rmSync(tmp, { recursive: true, force: true });
    try {
      fs.mkdirSync(tmp, { mode: 0o755 });
      populate(tmp);
      fs.renameSync(tmp, t.privatePath);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  destroy(t: StorageTarget): void {
    this.unmount(t);
    // Rename first so a destroy killed half way leaves no private area that looks complete.
    const doomed = `${t.privatePath}.destroying`;
    if (fs.existsSync(t.privatePath)) fs.renameSync(t.privatePath, doomed);
    fs.rmSync(doomed, { recursive: true, force: true });
    fs.rmSync(`${t.privatePath}.creating`, { recursive: true, force: true });
    fs.rmSync(t.mountPath, { recursive: true, force: true });
  }

  exists(t: StorageTarget): boolean {
    return fs.existsSync(t.privatePath);
  }

  mount(t: StorageTarget): void {
    if (this.isMounted(t)) return;
    fs.mkdirSync(t.mountPath, { recursive: true, mode: 0o755 });
    try {
      bindMount(t.privatePath, t.mountPath);
    } catch (e) {
      throw systemError(`cannot mount ${t.privatePath} on ${t.mountPath}`, e, { ctid: t.ctid, code: 'CANT_MOUNT' });
    }
  }

  unmount(t: StorageTarget): void {
    try {
      for (const m of mountsUnder(t.mountPath)) umount(m, true);
    } catch (e) {
      throw systemError(`cannot unmount ${t.mountPath}`, e, { ctid: t.ctid, code: 'CANT_UMOUNT' });
    }
  }

  isMounted(t: StorageTarget): boolean {
    return isMountPoint(t.mountPath);
  }

  usage(t: StorageTarget): DiskUsage {
    let bytes = 0;
    let inodes = 0;
    const seen = new Set<bigint>();
    const walk = (dir: string) => {
      for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = `${dir}/${ent.name}`;
        const st = fs.lstatSync(p, { bigint: true });
        if (seen.has(st.ino)) continue;
        seen.add(st.ino);
        inodes++;
        bytes += Number(st.blocks) * 512;
        if (ent.isDirectory()) walk(p);
      }
    };
    if (fs.existsSync(t.privatePath)) walk(t.privatePath);
    return { bytes, inodes };
  }
}
