/** userpasswd, ssh_key: written into the container's files, running or not, and never stored. */
import type { Applier } from './types.js';
import { applyAccess } from '../access.js';

export const access: Applier = {
  group: 'access',
  // Last: a password or key written cannot be taken back, so nothing may fail after it.
  order: 90,
  when: 'always',
  stores: 'never',
  apply(s, changed) {
    applyAccess(s.ctx, s.ctid, s.owner.uid, changed);
    return { applied: Object.keys(changed) };
  },
};
