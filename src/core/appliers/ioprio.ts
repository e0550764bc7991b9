/** ioprio: the best-effort I/O priority of every task of the container. */
import type { Applier } from './types.js';
import { applyIoPrio } from '../apply-limits.js';

export const ioprio: Applier = {
  group: 'ioprio',
  order: 50,
  when: 'running',
  apply(s) {
    if (s.params.ioprio === undefined) return { applied: [] };
    applyIoPrio(s.ctx, s.ctid, s.params.ioprio);
    return { applied: ['ioprio'] };
  },
};
