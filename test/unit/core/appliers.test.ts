import { describe, expect, it } from 'vitest';
import { CONFIG_ONLY, LIVE_GROUPS, PARAMS, groupKeys, pickGroup, type ParamValues } from '../../../src/config/params.js';
import { APPLIERS, applierFor, applyChange, neverStored, type Applier, type SetState } from '../../../src/core/appliers/index.js';
import { withRevert } from '../../../src/core/reverter.js';

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

describe('the loop set runs over the appliers', () => {
  type Log = string[];
  const fake = (log: Log, group: Applier['group'], order: number, more: Partial<Applier> = {}): Applier => ({
    group,
    order,
    when: 'always',
    check: () => void log.push(`check ${group}`),
    apply: (_s, changed, undo) => {
      log.push(`apply ${group}`);
      undo.add(`undo ${group}`, () => void log.push(`undo ${group}`));
      return { applied: Object.keys(changed) };
    },
    ...more,
  });
  // Only what the loop reads: the fake appliers touch nothing.
  const state = (params: ParamValues, o: Partial<SetState> = {}) => ({ params, stored: {}, running: true, save: true, ctid: 1, ...o }) as SetState;

  it('checks every changed group before applying any, applies in order, and runs only the changed groups', async () => {
    const log: Log = [];
    const res = await withRevert((r) =>
      applyChange(state({ ram: 1, hostname: 'h', ip_address: ['10.0.0.1'] }), r, [fake(log, 'net', 10), fake(log, 'cgroup', 30), fake(log, 'hostname', 60), fake(log, 'disk', 20)]),
    );
    expect(log).toEqual(['check net', 'check cgroup', 'check hostname', 'apply net', 'apply cgroup', 'apply hostname']);
    expect(res.applied).toEqual(['ip_address', 'ram', 'hostname']);
  });

  it('a failing group undoes what the groups before it registered, newest first, and nothing is stored', async () => {
    const log: Log = [];
    const boom = fake(log, 'hostname', 60, { apply: () => { throw new Error('refused'); } });
    await expect(withRevert((r) => applyChange(state({ ram: 1, hostname: 'h', ip_address: ['10.0.0.1'] }), r, [fake(log, 'net', 10), fake(log, 'cgroup', 30), boom]))).rejects.toThrow('refused');
    expect(log.slice(-2)).toEqual(['undo cgroup', 'undo net']);
  });

  it('a refused check changes nothing', async () => {
    const log: Log = [];
    const bad = fake(log, 'devices', 40, { check: () => { throw new Error('no such device'); } });
    await expect(withRevert((r) => applyChange(state({ ip_address: ['10.0.0.1'], devnodes: { null: 'rw' } }), r, [fake(log, 'net', 10), bad]))).rejects.toThrow('no such device');
    expect(log).toEqual(['check net']);
  });

  it('skips running-only groups on a stopped container; stores values as given, the result form, or nothing', async () => {
    const log: Log = [];
    const net = fake(log, 'net', 10, { stores: 'result', apply: () => ({ applied: [], store: { ip_address: ['10.0.0.1/32'] } }) });
    const cg = fake(log, 'cgroup', 30, { when: 'running' });
    const acc = fake(log, 'access', 90, { stores: 'never' });
    const res = await withRevert((r) =>
      applyChange(state({ ipdel: ['all'], ip_address: ['10.0.0.1'], ram: 1, userpasswd: [{ user: 'root', password: 'x' }], onboot: true }, { running: false }), r, [net, cg, acc]),
    );
    expect(log).not.toContain('apply cgroup');
    expect(res.store).toEqual({ ram: 1, onboot: true, ip_address: ['10.0.0.1/32'] });
  });
});
