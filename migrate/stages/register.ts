/**
 * Stage "register": DEST makes the container's record (state "creating", invisible there) and
 * its empty private area, and says where the files go and which uid range it gave. Its undo
 * takes everything on DEST back (abort). Online with an image layout, stage "mount image on
 * DEST" then has DEST make and mount an image of the same shape for the tree copy.
 */
import type { Stage } from '../stages.js';
import { MigExit } from '../errors.js';
import type { Migration } from './migration.js';

export function register(m: Migration): Stage {
  const { ctid, row, online, o } = m;
  return {
    name: 'register',
    run: () => {
      m.registered = true; // abort is safe even when register failed half way
      const r = m.remote('register', { ctid, name: row.name, ostemplate: row.ostemplate, profile: row.profile, params: m.params, uidBase: row.uidBase, isDir: m.isDir, reuse: o.keepDst, sameUids: online ? !m.anySlot : !m.isDir && !m.anySlot }, MigExit.APPLY_CONFIG);
      m.destPrivate = r.privatePath;
      m.destDump = r.dumpDir;
      m.destBase = r.uidBase;
    },
    undo: () => {
      if (!m.inDoubt) m.abortDest();
    },
  };
}

export function mountImageOnDest(m: Migration, tree: { sizeBytes: number; inodes: number }): Stage {
  return {
    name: 'mount image on DEST',
    run: async () => {
      m.destMount = m.remote('mount-image', tree, MigExit.APPLY_CONFIG).mountPath;
    },
    // The image itself goes with register's undo (abort), unless --keep-dst.
    undo: () => void m.remote('unmount-image', {}, 1),
  };
}
