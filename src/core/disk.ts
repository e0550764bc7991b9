/**
 * Disk limits per layout, chosen by the storage driver's capabilities: an image's limit is its
 * size (resize); a directory's is a project quota, which the node's file system must support.
 */
import type { Context } from './context.js';
import { VzError } from './errors.js';
import type { SoftHard } from '../config/limits.js';
import type { StorageDriver } from '../storage/types.js';
import { projectQuotaSupport } from '../../quota/project.js';

/** The size an image gets: the hard limit (vzctl's barrier:limit — the limit is what is enforced). */
export function diskLimitBytes(disk: SoftHard | undefined): number | undefined {
  if (!disk) return undefined;
  return disk.hard ?? disk.soft ?? undefined;
}

/**
 * Refuses a disk limit the node cannot enforce, before anything is made: no container silently
 * runs without the limit it was given.
 */
export function checkDiskLimitSupport(
  ctx: Context,
  storage: StorageDriver,
  disk: SoftHard | undefined,
  ctid: number,
  inodes?: SoftHard,
): void {
  if (inodes && (inodes.soft !== null || inodes.hard !== null) && !storage.caps.resize) {
    checkDiskLimitSupport(ctx, storage, { soft: 1, hard: 1 }, ctid); // the same project-quota question
  }
  if (!disk || (disk.soft === null && disk.hard === null)) return;
  if (storage.caps.resize) {
    if (diskLimitBytes(disk) === undefined) {
      throw new VzError('INVALID', 'an image layout needs a finite diskspace (its size)', { ctid });
    }
    return;
  }
  const support = projectQuotaSupport(ctx.cfg.paths.private);
  if (!support.ok) {
    throw new VzError('QUOTA', `disk quota is not available for the dir layout here: ${support.reason}`, {
      ctid,
      hint: 'use --layout image, or give the node a file system with project quotas (see README)',
    });
  }
  throw new VzError('QUOTA', 'project quotas for the dir layout are not wired up yet', { ctid, hint: 'use --layout image' });
}

/** Live change of diskspace: an image grows or shrinks (shrink only when stopped). */
export function applyDiskLimit(ctx: Context, ctid: number, disk: SoftHard): void {
  const storage = ctx.storage(ctid);
  checkDiskLimitSupport(ctx, storage, disk, ctid);
  const bytes = diskLimitBytes(disk)!;
  storage.resize!(ctx.target(ctid), bytes);
}

export interface QuotaReport {
  ctid: number;
  layout: string;
  /** 1 KiB blocks, like vzquota; limits null = none. */
  blocks: { usage: number; soft: number | null; hard: number | null };
  inodes: { usage: number; soft: number | null; hard: number | null };
}

/** vzctl quota: usage and limits of a container's private area. */
export function diskQuota(ctx: Context, ctid: number): QuotaReport {
  const params = ctx.db().getParams(ctid);
  const storage = ctx.storage(ctid);
  const u = storage.usage(ctx.target(ctid));
  const disk = params.diskspace as SoftHard | undefined;
  const kib = (b: number | null | undefined) => (b === null || b === undefined ? null : Math.ceil(b / 1024));
  const imageLimit = u.limitBytes !== undefined ? kib(u.limitBytes) : null;
  return {
    ctid,
    layout: (params.layout as string | undefined) ?? 'dir',
    blocks: { usage: kib(u.bytes)!, soft: kib(disk?.soft) ?? imageLimit, hard: kib(disk?.hard) ?? imageLimit },
    inodes: {
      usage: u.inodes,
      soft: (params.diskinodes as SoftHard | undefined)?.soft ?? u.limitInodes ?? null,
      hard: (params.diskinodes as SoftHard | undefined)?.hard ?? u.limitInodes ?? null,
    },
  };
}

/** vzctl compact: gives an image's unused blocks back to the host (discard through the loop device). */
export function compactDisk(ctx: Context, ctid: number) {
  const storage = ctx.storage(ctid);
  if (!storage.caps.compact || !storage.compact) {
    throw new VzError('UNSUPPORTED', `the ${storage.name} layout has nothing to compact: its files use only what they hold`, { ctid });
  }
  return storage.compact(ctx.target(ctid));
}

/** Live change of diskinodes: an image's inode count is fixed when it is made. */
export function applyInodeLimit(ctx: Context, ctid: number, inodes: SoftHard): void {
  const storage = ctx.storage(ctid);
  if (storage.caps.resize) {
    throw new VzError('UNSUPPORTED', "an image's inode count is fixed when it is created (it grows in proportion with diskspace)", { ctid });
  }
  checkDiskLimitSupport(ctx, storage, undefined, ctid, inodes);
}
