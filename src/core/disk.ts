/**
 * Disk limits per layout, chosen by the storage driver's capabilities: a quota driver (dir:
 * project quotas) takes soft and hard limits with a grace period, live; a resizable one (image)
 * is limited by its size. Callers never ask for a driver's name.
 */
import type { Context } from './context.js';
import { VzError } from '../base/errors.js';
import type { SoftHard } from '../config/limits.js';
import type { ParamValues } from '../config/params.js';
import type { DiskLimits, StorageDriver, StorageTarget } from '../storage/types.js';
import { readStored } from './stored.js';

export interface DiskParams {
  diskspace?: SoftHard;
  diskinodes?: SoftHard;
  quotatime?: number;
}

export function diskParams(p: ParamValues): DiskParams {
  return { diskspace: p.diskspace, diskinodes: p.diskinodes, quotatime: p.quotatime };
}

const limited = (l: SoftHard | undefined): boolean => !!l && (l.soft !== null || l.hard !== null);
const unlimited: SoftHard = { soft: null, hard: null };

/** The size an image gets: the hard limit (vzctl's barrier:limit — the limit is what is enforced). */
export function diskLimitBytes(disk: SoftHard | undefined): number | undefined {
  if (!disk) return undefined;
  return disk.hard ?? disk.soft ?? undefined;
}

/**
 * Refuses a disk limit the node cannot enforce, before anything is made or changed: no container
 * silently runs without the limit it was given. `all` is what the container will have,
 * `changed` what this command names.
 */
export function checkDiskLimits(
  ctx: Context,
  storage: StorageDriver,
  t: StorageTarget,
  all: DiskParams,
  changed: DiskParams,
  phase: 'create' | 'set' | 'start',
): void {
  const wantsQuota = limited(all.diskspace) || limited(all.diskinodes);
  if (storage.caps.quota) {
    if (!wantsQuota && changed.quotatime === undefined) return;
    const why = storage.limitSupport?.(t);
    if (why) {
      throw new VzError('QUOTA', `disk quota is not available for the ${storage.name} layout here: ${why}`, {
        ctid: t.ctid,
        hint: 'use --layout image, or give the node a file system with project quotas (see README)',
      });
    }
    return;
  }
  if (storage.caps.resize) {
    if (changed.diskspace && diskLimitBytes(changed.diskspace) === undefined) {
      throw new VzError('INVALID', `the ${storage.name} layout needs a finite diskspace (its size)`, { ctid: t.ctid });
    }
    if (phase === 'set' && changed.diskinodes) {
      throw new VzError('UNSUPPORTED', `the ${storage.name} layout's inode count is fixed when it is created (it grows in proportion with diskspace)`, { ctid: t.ctid });
    }
    if (phase !== 'start' && changed.quotatime !== undefined) {
      ctx.warn(`the ${storage.name} layout has no soft limit (its size is the limit): quotatime has no effect`);
    }
    return;
  }
  if (limited(changed.diskspace) || limited(changed.diskinodes)) {
    throw new VzError('UNSUPPORTED', `the ${storage.name} layout cannot limit disk use`, { ctid: t.ctid });
  }
}

/**
 * Applies the container's disk limits (`all`: stored merged with `changed`) to its private area,
 * running or not: quotas take effect at once; an image is resized (a shrink only when stopped).
 */
/** The limits a quota driver gets at create, or undefined when none is asked for. */
export function createLimits(storage: StorageDriver, all: DiskParams): DiskLimits | undefined {
  if (!storage.caps.quota || !(limited(all.diskspace) || limited(all.diskinodes))) return undefined;
  return { space: all.diskspace ?? unlimited, inodes: all.diskinodes ?? unlimited, graceSeconds: all.quotatime };
}

export function applyDiskLimits(ctx: Context, storage: StorageDriver, t: StorageTarget, all: DiskParams, changed: DiskParams): void {
  if (storage.caps.quota && storage.setLimits) {
    const hasLimits = limited(all.diskspace) || limited(all.diskinodes);
    // Lifting every limit of a tree that never had one stamps nothing.
    if (!hasLimits && !storage.usage(t).limits && changed.quotatime === undefined) return;
    if (changed.quotatime !== undefined) {
      ctx.warn('quotatime is one grace period per file system on ext4 and XFS: it applies to every container there');
    }
    storage.setLimits(t, {
      space: all.diskspace ?? unlimited,
      inodes: all.diskinodes ?? unlimited,
      graceSeconds: changed.quotatime,
    });
    return;
  }
  if (storage.caps.resize && storage.resize && changed.diskspace) {
    storage.resize(t, diskLimitBytes(changed.diskspace)!);
  }
}

interface Limit {
  usage: number;
  soft: number | null;
  hard: number | null;
  /** Seconds left of the soft limit's grace period while usage is above it (0: expired). */
  grace: number | null;
}

export interface QuotaReport {
  ctid: number;
  layout: string;
  /** 1 KiB blocks, like vzquota; limits null = none. */
  blocks: Limit;
  inodes: Limit;
}

/** vzctl quota: usage and limits of a container's private area. */
export function diskQuota(ctx: Context, ctid: number): QuotaReport {
  const { params } = readStored(ctx.db(), ctid);
  const storage = ctx.storage(ctid);
  const u = storage.usage(ctx.target(ctid));
  const disk = params.diskspace;
  const inodes = params.diskinodes;
  const kib = (b: number | null | undefined) => (b === null || b === undefined ? null : Math.ceil(b / 1024));
  const now = Math.floor(Date.now() / 1000);
  const left = (expires: number | undefined) => (expires === undefined ? null : Math.max(0, expires - now));
  // What the kernel enforces wins over what is stored (a live set without --save changes it too).
  // An image's stored limit is what was asked for; its file system's size is that minus overhead.
  const space = u.limits?.space ?? disk ?? (u.limitBytes !== undefined ? { soft: u.limitBytes, hard: u.limitBytes } : undefined);
  const files = u.limits?.inodes ?? inodes ?? (u.limitInodes !== undefined ? { soft: u.limitInodes, hard: u.limitInodes } : undefined);
  return {
    ctid,
    layout: params.layout ?? 'dir',
    blocks: { usage: kib(u.bytes)!, soft: kib(space?.soft), hard: kib(space?.hard), grace: left(u.bytesGraceExpires) },
    inodes: { usage: u.inodes, soft: files?.soft ?? null, hard: files?.hard ?? null, grace: left(u.inodesGraceExpires) },
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
