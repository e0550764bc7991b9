/** Network (ip_address, netif, nameserver...): the reservations, the live interfaces and the stored configuration. */
import type { Applier } from './types.js';
import { setNet } from '../apply-net.js';

export const net: Applier = {
  group: 'net',
  // First: a refused address (78) or a failed live change leaves everything else untouched,
  // and a later failure takes the network change back (setNet registers its undo steps).
  order: 10,
  when: 'always',
  // ipdel, netif_del, ifname and the gateways are changes: what is stored is the resulting configuration.
  stores: 'result',
  apply(s, changed, undo) {
    const hostname = s.params.hostname ?? s.stored.hostname;
    const res = setNet(s.ctx, s.ctid, changed, {
      save: s.save, initPid: s.running ? s.initPid : undefined, stored: s.stored, hostname, root: s.mounted ? s.target.mountPath : undefined, owner: s.owner,
    }, undo);
    return { applied: res.applied ? Object.keys(changed) : [], store: res.store };
  },
};
