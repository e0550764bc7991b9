/**
 * DEST's side of an online migration of a file system image (image layout): DEST makes its own
 * empty image of the source's size and inode count and mounts it where the container's root goes
 * (VE_ROOT, the path CRIU restores under), and the source copies its mounted tree into it, as the
 * dir layout's trees are copied. The copy made while frozen then moves only the files that
 * changed, so the frozen time follows the number of files, not the size of the image.
 *
 * The mount is handed over to the restore (resume's adoptMount): from then on the container's
 * stop unmounts it, and a failed restore too.
 */
import type { Context } from '../src/core/context.js';
import { withLock } from '../src/core/lock.js';
import { probeRuntime } from '../src/core/runtime-state.js';
import { MIN_IMAGE_SIZE } from '../src/storage/image.js';
import { MigExit, StageFailure } from './errors.js';
import type { MountImageRequest, Reply } from './protocol.js';

/** The record made by this migration's register step (state "creating"), else a refusal. */
function incoming(ctx: Context, ctid: number): void {
  const row = ctx.db().getContainer(ctid);
  if (!row || row.state !== 'creating') throw new StageFailure(MigExit.EXISTS, `CT ${ctid} is not being migrated in on DEST`);
}

/** Makes (or keeps, when it has the same shape) the container's image and mounts it at VE_ROOT. */
export async function mountImage(ctx: Context, ctid: number, q: MountImageRequest): Promise<Reply<'mount-image'>> {
  const { sizeBytes, inodes } = q;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < MIN_IMAGE_SIZE || sizeBytes % 4096 !== 0) {
    throw new StageFailure(MigExit.APPLY_CONFIG, `bad image size ${String(sizeBytes)}`);
  }
  if (!Number.isSafeInteger(inodes) || inodes <= 0 || inodes > 2 ** 32 - 1) throw new StageFailure(MigExit.APPLY_CONFIG, `bad inode count ${String(inodes)}`);
  return withLock(ctx, ctid, async () => {
    incoming(ctx, ctid);
    const storage = ctx.storage(ctid);
    if (!storage.geometry) throw new StageFailure(MigExit.APPLY_CONFIG, `the ${storage.name} layout has no file system image to mount`);
    const t = ctx.target(ctid);
    if (storage.isMounted(t)) storage.unmount(t); // left by a migration that died half way
    // register made an image of the default size, or an earlier --keep-dst run left one: kept only
    // when it has the source's shape (mkfs -N rounds up to whole inode groups, so >=).
    const cur = storage.exists(t) ? storage.geometry(t) : undefined;
    if (!cur || cur.sizeBytes !== sizeBytes || cur.inodes < inodes) {
      storage.destroy(t);
      storage.create(t, () => {}, { sizeBytes, inodes });
    }
    storage.mount(t);
    return { mountPath: t.mountPath };
  });
}

/** The undo of mountImage: unmounts the image (abort removes it), unless the container runs here. */
export async function unmountImage(ctx: Context, ctid: number): Promise<Reply<'unmount-image'>> {
  return withLock(ctx, ctid, async () => {
    const row = ctx.db().getContainer(ctid);
    if (!row) return { unmounted: false };
    // Restored already: abort stops it first, and its stop unmounts.
    if (probeRuntime(ctx.paths(ctid)).running) return { unmounted: false };
    const storage = ctx.storage(ctid);
    const t = ctx.target(ctid);
    if (storage.isMounted(t)) storage.unmount(t);
    return { unmounted: true };
  });
}
