import { describe, expect, it } from 'vitest';
import { allAddresses, applyDelta, emptyNet, netFromParams, netToParams } from '../../../src/net/config.js';
import { parseIpAdd, parseIpDel, parseNameserver, parseNetifAdd } from '../../../src/net/params.js';

const ids = { node: 'vz', ctid: 101 };

describe('network config changes', () => {
  it('adds and removes routed addresses; the same address again is no change', () => {
    let c = applyDelta(emptyNet(), { ip_address: parseIpAdd(['198.18.0.1', '2001:db8::1,198.18.0.2']) }, ids);
    expect(c.routed).toEqual(['198.18.0.1', '2001:db8::1', '198.18.0.2']);
    c = applyDelta(c, { ip_address: ['198.18.0.1'] }, ids);
    expect(c.routed).toHaveLength(3);
    c = applyDelta(c, { ipdel: parseIpDel('2001:0db8:0::1') }, ids);
    expect(c.routed).toEqual(['198.18.0.1', '198.18.0.2']);
    expect(applyDelta(c, { ipdel: parseIpDel('all') }, ids).routed).toEqual([]);
    expect(() => applyDelta(c, { ipdel: ['198.18.0.9'] }, ids)).toThrow(/not an address of venet0/);
  });

  it('adds a bridged interface with generated names and MACs, and addresses and gateways on it with --ifname', () => {
    let c = applyDelta(emptyNet(), { netif: parseNetifAdd('eth1,,,,vmbr0'), ifname: 'eth1', ip_address: ['198.19.0.2/24'], gateway: '198.19.0.1' }, ids);
    expect(c.netifs).toEqual([
      { ifname: 'eth1', mac: expect.stringMatching(/^..:/), host_ifname: 'vz-101.0', host_mac: expect.any(String), bridge: 'vmbr0', ip: ['198.19.0.2/24'], gateway: '198.19.0.1' },
    ]);
    c = applyDelta(c, { netif: parseNetifAdd(['eth2,02:00:00:00:00:02,myhost0']) }, ids);
    expect(c.netifs[1]).toMatchObject({ ifname: 'eth2', mac: '02:00:00:00:00:02', host_ifname: 'myhost0' });
    expect(c.netifs[1]!.bridge).toBeUndefined();
    expect(allAddresses(c)).toEqual([{ ip: '198.19.0.2', kind: 'eth1' }]);
    expect(() => applyDelta(c, { ip_address: ['198.19.0.2'] }, ids)).toThrow(/already on eth1/);
    expect(() => applyDelta(c, { netif: parseNetifAdd('eth1') }, ids)).toThrow(/already has an interface eth1/);
    expect(() => applyDelta(c, { ifname: 'eth7', ip_address: ['198.19.0.3'] }, ids)).toThrow(/no interface eth7/);
    expect(() => applyDelta(c, { gateway: '198.19.0.1' }, ids)).toThrow(/need --ifname/);
    c = applyDelta(c, { netif_del: ['eth1'] }, ids);
    expect(c.netifs.map((n) => n.ifname)).toEqual(['eth2']);
    // The next bridged interface reuses the free host name.
    expect(applyDelta(c, { netif: parseNetifAdd('eth3,,,,br1') }, ids).netifs[1]!.host_ifname).toBe('vz-101.0');
  });

  it('round-trips through the stored parameters', () => {
    const c = applyDelta(emptyNet(), { ip_address: ['198.18.0.1'], nameserver: parseNameserver('inherit'), searchdomain: ['example.test'] }, ids);
    expect(netFromParams(JSON.parse(JSON.stringify(netToParams(c))))).toEqual(c);
    expect(netToParams(emptyNet())).toEqual({ ip_address: undefined, netif: undefined, nameserver: undefined, searchdomain: undefined });
  });

  it('refuses bad specs', () => {
    expect(() => parseNetifAdd('venet0')).toThrow(/reserved/);
    expect(() => parseNetifAdd('eth1,,,,br/0')).toThrow(/invalid bridge name "br\/0"/);
    expect(() => parseNetifAdd('eth1,zz')).toThrow(/invalid MAC/);
    expect(() => parseNameserver('inherit,198.18.0.53')).toThrow(/cannot be combined/);
  });
});
