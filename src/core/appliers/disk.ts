/** Disk limits (diskspace, diskinodes, quotatime): they live with the private area, running or not. */
import type { Applier } from './types.js';
import { applyDiskLimits, checkDiskLimits, diskParams } from '../disk.js';

export const disk: Applier = {
  group: 'disk',
  order: 20,
  when: 'always',
  check(s) {
    checkDiskLimits(s.ctx, s.ctx.storage(s.ctid), s.target, diskParams({ ...s.stored, ...s.params }), diskParams(s.params), 'set');
  },
  apply(s, changed) {
    // Quotas change at once, an image is resized.
    applyDiskLimits(s.ctx, s.ctx.storage(s.ctid), s.target, diskParams({ ...s.stored, ...s.params }), diskParams(s.params));
    return { applied: Object.keys(changed) };
  },
};
