/** devnodes: the host device nodes the container may use (the device cgroup). */
import type { Applier } from './types.js';
import { applyDevicesLive, devnodeRules } from '../apply-limits.js';

export const devices: Applier = {
  group: 'devices',
  order: 40,
  when: 'running',
  check(s) {
    // set merged the change with what is stored; the result is checked against the host's nodes now.
    devnodeRules(s.params.devnodes!, s.ctid);
  },
  apply(s) {
    applyDevicesLive(s.ctx, s.ctid, s.stored.devnodes ?? {}, s.params.devnodes!);
    return { applied: ['devnodes'] };
  },
};
