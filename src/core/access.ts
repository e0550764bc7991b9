/**
 * vzctl set --userpasswd / --ssh-key: written into the container's files from the host (through
 * openat2 RESOLVE_IN_ROOT), on a running container and on a stopped one alike; a stopped one is
 * mounted for the moment and unmounted again. Nothing of it is stored in vzkit's state.
 */
import type { Context } from './context.js';
import { addSshKey, setUserPassword } from '../distro/users.js';
import type { ParamValues } from '../config/params.js';

export function applyAccess(ctx: Context, ctid: number, uidBase: number, values: ParamValues): void {
  const storage = ctx.storage(ctid);
  const t = ctx.target(ctid);
  const wasMounted = storage.isMounted(t);
  if (!wasMounted) storage.mount(t);
  try {
    const owner = { uid: uidBase, gid: uidBase };
    for (const up of values.userpasswd ?? []) {
      setUserPassword(t.mountPath, up, owner);
      ctx.progress(`Password for user ${up.user} was set`);
    }
    for (const k of values.ssh_key ?? []) {
      addSshKey(t.mountPath, k, owner);
      ctx.progress(`SSH key added for user ${k.user}`);
    }
  } finally {
    if (!wasMounted) storage.unmount(t);
  }
}
