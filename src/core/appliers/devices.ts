/** devnodes: the host device nodes the container may use (the device cgroup). */
import type { Applier } from './types.js';
import { applyDevicesLive, devnodeRules } from '../limits.js';

type Devnodes = Record<string, string>;

export const devices: Applier = {
  group: 'devices',
  order: 40,
  when: 'running',
  check(s) {
    // set merged the change with what is stored; the result is checked against the host's nodes now.
    devnodeRules(s.params.devnodes as Devnodes, s.ctid);
  },
  apply(s) {
    applyDevicesLive(s.ctx, s.ctid, (s.stored.devnodes as Devnodes | undefined) ?? {}, s.params.devnodes as Devnodes);
    return { applied: ['devnodes'] };
  },
};
