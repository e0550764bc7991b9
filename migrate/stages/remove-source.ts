/** Stage "remove source" (-r yes, the default): the container here is destroyed once DEST has it. */
import { destroyLocked } from '../../src/core/ops/destroy.js';
import type { Stage } from '../stages.js';
import type { Migration } from './migration.js';

export function removeSource(m: Migration): Stage {
  return {
    name: 'remove source',
    run: () => destroyLocked(m.ctx, m.ctid),
  };
}
