/** v2 cpuset: an empty cpuset.cpus means "inherit the parent's", so unlike v1 nothing needs copying at create. */
import { join } from 'node:path';
import type { ResourceLimits } from '../types.js';
import { writeValue } from '../cgfs.js';

export function applyCpuset(dir: string, limits: ResourceLimits, ctid?: number): void {
  if (limits.cpus !== undefined) writeValue(join(dir, 'cpuset.cpus'), limits.cpus, `cpu set "${limits.cpus}"`, ctid);
}
