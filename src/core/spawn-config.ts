/** The part of the helper's config that start and resume share: root, ids, run files, teardown. */
import type { Context } from './context.js';
import type { ContainerRow } from '../state/types.js';
import type { StorageTarget } from '../storage/types.js';
import type { CgroupManager } from '../cgroup/types.js';
import type { SpawnConfig } from '../runtime/protocol.js';

export function baseSpawnConfig(
  ctx: Context,
  row: ContainerRow,
  t: StorageTarget,
  cg: CgroupManager,
  o: { hostname: string; init: string[]; env: string[]; wasMounted: boolean; poststop: string[] },
): SpawnConfig {
  const p = ctx.paths(row.ctid);
  return {
    rootfs: t.mountPath,
    hostname: o.hostname,
    uid_map: `0 ${row.uidBase} ${row.uidSize}\n`,
    gid_map: `0 ${row.uidBase} ${row.uidSize}\n`,
    init: o.init,
    env: o.env,
    console_log: p.consoleLog,
    socket: p.socket,
    pidfile: p.pidfile,
    statusfile: p.statusfile,
    rmdirs: cg.dirs(),
    // A container that halts from inside is unmounted too, as vzctl does; a mount the admin
    // made before start (vzctl mount) is left alone.
    umounts: o.wasMounted ? [] : [t.mountPath],
    // Host interfaces and proxy entries go when the container ends, even if it halts itself.
    poststop: o.poststop,
    tty_gid: row.uidBase + 5,
    root_uid: row.uidBase,
    root_gid: row.uidBase,
  };
}
