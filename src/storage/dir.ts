/**
 * The "dir" driver: the private area is a directory, mounted by a private bind mount. Its disk
 * limits are ext4/XFS project quotas (like vzquota on simfs and Incus's dir driver): the project
 * ID is the CTID, stamped with PROJINHERIT on the whole tree when a limit is first set, so every
 * inode made later inside counts too; statfs() on the tree then reports the project's limit and
 * usage, which is what `df` inside the container shows.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bindMount, isMountPoint, mountsUnder, umount } from '../sys/mounts.js';
import type { CreateOptions, DiskLimits, DiskUsage, StorageDriver, StorageTarget } from './types.js';
import { VzError, systemError } from '../base/errors.js';
import {
  clearProject,
  getProject,
  getQuota,
  projectQuotaSupport,
  setLimits as setProjectLimits,
  setProject,
  type QuotaSupport,
} from '../../quota/project.js';

type Supported = Extract<QuotaSupport, { ok: true }>;

export class DirDriver implements StorageDriver {
  readonly name = 'dir';
  readonly caps = { quota: true, snapshot: false, send: false, tree: true };

  /** Project quota support of the file system that holds (or will hold) the private area. */
  private support(t: StorageTarget): QuotaSupport {
    return projectQuotaSupport(fs.existsSync(t.privatePath) ? t.privatePath : path.dirname(t.privatePath));
  }

  limitSupport(t: StorageTarget): string | undefined {
    const s = this.support(t);
    return s.ok ? undefined : s.reason;
  }

  /** The project's quota, when the tree carries the container's project ID on a quota file system. */
  private project(t: StorageTarget): Supported | undefined {
    let p: ReturnType<typeof getProject>;
    try {
      p = getProject(t.privatePath);
    } catch {
      return undefined; // gone, or a file system without project IDs (tmpfs, btrfs...)
    }
    if (p?.projid !== t.ctid) return undefined;
    const s = this.support(t);
    return s.ok ? s : undefined;
  }

  private requireSupport(t: StorageTarget): Supported {
    const s = this.support(t);
    if (!s.ok) throw new VzError('QUOTA', `disk quota is not available for the dir layout here: ${s.reason}`, { ctid: t.ctid });
    return s;
  }

  /** Stamps `dir` (and what is in it) with the CTID as project ID, once sure no other tree uses it. */
  private claimProject(t: StorageTarget, s: Supported, dir: string): void {
    const q = getQuota(s.device, s.fs, t.ctid);
    if (q.inodesUsed > 0 || q.bytesHard > 0 || q.inodesHard > 0) {
      throw new VzError('QUOTA', `project ID ${t.ctid} is already in use on ${s.mountPoint} (${q.inodesUsed} inodes carry it)`, {
        ctid: t.ctid,
        hint: 'another tree on this file system uses the CTID as its project ID: clear it (chattr -R -p 0) or choose another CTID',
      });
    }
    setProject(dir, t.ctid);
  }

  setLimits(t: StorageTarget, l: DiskLimits): void {
    const s = this.requireSupport(t);
    const cur = getProject(t.privatePath);
    // A container made without limits gets its project now (symlinks keep project 0 before 6.17).
    if (cur?.projid !== t.ctid || !cur.inherit) this.claimProject(t, s, t.privatePath);
    setProjectLimits(s.device, s.fs, t.ctid, {
      bytesSoft: l.space.soft ?? 0,
      bytesHard: l.space.hard ?? 0,
      inodesSoft: l.inodes.soft ?? 0,
      inodesHard: l.inodes.hard ?? 0,
      graceSeconds: l.graceSeconds,
    });
  }

  create(t: StorageTarget, populate: (dir: string) => void, opts: CreateOptions = {}): void {
    // Build next to the final place and rename: a killed create never leaves a half area behind
    // under the real name.
    const tmp = `${t.privatePath}.creating`;
    fs.rmSync(tmp, { recursive: true, force: true });
    const quota = opts.limits ? this.requireSupport(t) : undefined;
    try {
      fs.mkdirSync(tmp, { mode: 0o755 });
      // Stamped before it is filled, every inode inherits the project from the kernel, symlinks
      // too, which stamping a finished tree cannot reach before Linux 6.17.
      if (quota) this.claimProject(t, quota, tmp);
      populate(tmp);
      fs.renameSync(tmp, t.privatePath);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    if (opts.limits) this.setLimits(t, opts.limits);
  }

  destroy(t: StorageTarget): void {
    this.unmount(t);
    // Rename first so a destroy killed half way leaves no private area that looks complete.
    const doomed = `${t.privatePath}.destroying`;
    const project = this.project(t);
    if (fs.existsSync(t.privatePath)) fs.renameSync(t.privatePath, doomed);
    fs.rmSync(doomed, { recursive: true, force: true });
    // The files are gone, so is the usage; the limits would stay with the ID without this.
    if (project) clearProject(project.device, project.fs, t.ctid);
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
    const project = this.project(t);
    if (project) {
      const q = getQuota(project.device, project.fs, t.ctid);
      const none = (n: number) => (n === 0 ? null : n);
      return {
        bytes: q.bytesUsed,
        inodes: q.inodesUsed,
        limits: {
          space: { soft: none(q.bytesSoft), hard: none(q.bytesHard) },
          inodes: { soft: none(q.inodesSoft), hard: none(q.inodesHard) },
        },
        bytesGraceExpires: q.bytesGraceExpires,
        inodesGraceExpires: q.inodesGraceExpires,
      };
    }
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
