import { describe, expect, it } from 'vitest';
import { CONFIG_ONLY, LIVE_GROUPS, PARAMS, groupKeys, pickGroup } from '../../../src/config/params.js';
import { APPLIERS, applierFor, neverStored } from '../../../src/core/appliers/index.js';

// The hand-kept lists the table replaced (src/config/limits.ts, src/core/disk.ts, src/net/config.ts, src/core/access.ts).
const OLD_LISTS = {
  cgroup: ['ram', 'swap', 'cpus', 'cpulimit', 'cpuunits', 'cpumask', 'numproc', 'iolimit', 'iopslimit'],
  disk: ['diskspace', 'diskinodes', 'quotatime'],
  net: ['ip_address', 'ipdel', 'netif', 'netif_del', 'ifname', 'gateway', 'gateway6', 'nameserver', 'searchdomain', 'rate'],
  access: ['userpasswd', 'ssh_key'],
  // set's own checks of one key each
  devices: ['devnodes'],
  ioprio: ['ioprio'],
  hostname: ['hostname'],
};

describe('the live appliers', () => {
  it('has one applier for every live group a table key names, and none for any other group', () => {
    const named = new Set(PARAMS.map((p) => p.liveApply).filter((g) => g !== undefined && g !== CONFIG_ONLY));
    expect([...named].sort()).toEqual([...LIVE_GROUPS].sort());
    for (const p of PARAMS) {
      if (p.liveApply === undefined || p.liveApply === CONFIG_ONLY) continue;
      expect(applierFor(p.liveApply)?.group, p.key).toBe(p.liveApply);
    }
    expect(APPLIERS.map((a) => a.group).sort()).toEqual([...LIVE_GROUPS].sort());
  });

  it('derives from the table the key sets the hand-kept lists held', () => {
    for (const [group, keys] of Object.entries(OLD_LISTS)) {
      expect([...groupKeys(group as keyof typeof OLD_LISTS)].sort(), group).toEqual([...keys].sort());
    }
  });

  it('applies in the order set always used: network first, a password or key last', () => {
    expect(APPLIERS.map((a) => a.group)).toEqual(['net', 'disk', 'cgroup', 'devices', 'ioprio', 'hostname', 'access']);
    expect(new Set(APPLIERS.map((a) => a.order)).size).toBe(APPLIERS.length);
  });

  it('picks a group out of a change in the change\'s order', () => {
    expect(pickGroup({ numproc: 10, hostname: 'a', ram: 1, ipdel: ['all'] }, 'cgroup')).toEqual({ numproc: 10, ram: 1 });
    expect(Object.keys(pickGroup({ numproc: 10, ram: 1 }, 'cgroup'))).toEqual(['numproc', 'ram']);
    expect(pickGroup({ onboot: true }, 'net')).toEqual({});
  });

  it('knows which keys are never stored (a stopped container takes them without --save)', () => {
    expect(PARAMS.filter((p) => neverStored(p.key)).map((p) => p.key).sort()).toEqual(['ssh_key', 'userpasswd']);
    expect(neverStored('nope')).toBe(false);
  });
});
