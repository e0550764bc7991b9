/** Resource limits in cgroups (ram, swap, cpus, cpulimit, numproc, iolimit...). */
import type { Applier } from './types.js';
import { limitsFromParams } from '../../config/limits.js';
import { applyLimitsLive, hostInfo } from '../apply-limits.js';

export const cgroup: Applier = {
  group: 'cgroup',
  order: 30,
  when: 'running',
  check(s, changed) {
    // Checked even for a stopped container, so that what is stored can be applied at start.
    limitsFromParams({ ...s.stored, ...changed }, hostInfo());
  },
  apply(s, changed) {
    // A change the kernel refuses is taken back at once: the old limits stay in force.
    applyLimitsLive(s.ctx, s.ctid, s.stored, changed);
    return { applied: Object.keys(changed) };
  },
};
