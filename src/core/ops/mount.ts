/** vzctl mount / umount: the private area on the container's root mount point, without starting. */
import type { Context } from '../context.js';
import { withLock } from '../lock.js';
import { VzError } from '../../base/errors.js';
import { requireContainer } from '../resolve.js';
import { probeRuntime } from '../runtime-state.js';

export async function mountContainer(ctx: Context, ctid: number): Promise<void> {
  return withLock(ctx, ctid, () => {
    requireContainer(ctx, ctid);
    const t = ctx.target(ctid);
    if (ctx.storage(ctid).isMounted(t)) throw new VzError('MOUNTED', 'container is already mounted', { ctid });
    ctx.storage(ctid).mount(t);
    ctx.progress('Container is mounted');
  });
}

export async function umountContainer(ctx: Context, ctid: number): Promise<void> {
  return withLock(ctx, ctid, () => {
    requireContainer(ctx, ctid);
    if (probeRuntime(ctx.paths(ctid)).running) {
      throw new VzError('RUNNING', 'container is running', { ctid, hint: `stop it first: vzctl stop ${ctid}` });
    }
    const t = ctx.target(ctid);
    if (!ctx.storage(ctid).isMounted(t)) throw new VzError('NOT_MOUNTED', 'container is not mounted', { ctid });
    ctx.storage(ctid).unmount(t);
    ctx.progress('Container is unmounted');
  });
}
