/**
 * v1 devices controller: rules are written one per line to devices.allow / devices.deny, in
 * order ("a" denies or allows everything). A new cgroup inherits its parent's list.
 */
import { join } from 'node:path';
import type { DeviceRule, ResourceLimits } from '../types.js';
import { writeValue } from '../cgfs.js';

export function ruleLine(r: DeviceRule): string {
  return r.type === 'a' ? 'a' : `${r.type} ${r.major}:${r.minor} ${r.access}`;
}

/** What a full-system container needs (runc's default list plus tun and fuse). */
export const DEFAULT_DEVICE_RULES: DeviceRule[] = [
  { allow: false, type: 'a', major: '*', minor: '*', access: 'rwm' },
  { allow: true, type: 'c', major: '*', minor: '*', access: 'm' }, // mknod any char/block dev; opening is still checked
  { allow: true, type: 'b', major: '*', minor: '*', access: 'm' },
  ...(
    [
      [1, 3], [1, 5], [1, 7], [1, 8], [1, 9], // null zero full random urandom
      [5, 0], [5, 1], [5, 2], // tty console ptmx
      [136, '*'], // pts
      [10, 200], [10, 229], // net/tun fuse
    ] as [number, number | '*'][]
  ).map(([major, minor]): DeviceRule => ({ allow: true, type: 'c', major, minor, access: 'rwm' })),
];

export function applyDevices(dir: string, limits: ResourceLimits, ctid?: number): void {
  for (const r of limits.devices ?? []) {
    const file = join(dir, r.allow ? 'devices.allow' : 'devices.deny');
    writeValue(file, ruleLine(r), `device rule "${r.allow ? 'allow' : 'deny'} ${ruleLine(r)}"`, ctid);
  }
}
