import { describe, expect, it } from 'vitest';
import { applyDelta, emptyNet } from '../../../src/net/config.js';
import { diff, netdown } from '../../../src/net/plan.js';
import { hostsContent, resolvContent } from '../../../src/net/guest.js';
import { stableMac } from '../../../src/net/mac.js';
import { parseRate, rateCommands } from '../../../src/net/rate.js';

const ids = { node: 'vz', ctid: 101 };
const lan = () => ['eth0'];

describe('iproute2 plans', () => {
  const routed = applyDelta(emptyNet(), { ip_address: ['198.18.0.1', '2001:db8::1'] }, ids);

  it('brings a routed container up: veth into its netns, host routes, proxy entries, default routes inside', () => {
    const c = diff(emptyNet(), routed, ids, 4242, lan);
    const hmac = stableMac('vz', 101, 'venet0', 'host');
    expect(c.host).toEqual([
      `link add vz-101 address ${hmac} type veth peer name venet0 address ${stableMac('vz', 101, 'venet0', 'ct')} netns 4242`,
      'link set dev vz-101 addrgenmode none',
      'link set dev vz-101 up',
      'addr add fe80::1/64 dev vz-101 nodad',
      'route replace 198.18.0.1/32 dev vz-101',
      'neigh replace proxy 198.18.0.1 dev eth0',
      'route replace 2001:db8::1/128 dev vz-101',
      'neigh replace proxy 2001:db8::1 dev eth0',
    ]);
    expect(c.ct).toEqual([
      'link set dev venet0 up',
      'addr add 198.18.0.1/32 dev venet0',
      'addr add 2001:db8::1/128 dev venet0 nodad',
      `neigh replace 169.254.0.1 lladdr ${hmac} dev venet0 nud permanent`,
      'route replace default via 169.254.0.1 dev venet0 onlink',
      'route replace default via fe80::1 dev venet0',
    ]);
    expect(netdown(routed, ids, lan)).toEqual(['link del dev vz-101', 'neigh del proxy 198.18.0.1 dev eth0', 'neigh del proxy 2001:db8::1 dev eth0']);
  });

  it('removes the last IPv4 address live: the default route first (the kernel would drop it with the address)', () => {
    const after = applyDelta(routed, { ipdel: ['198.18.0.1'] }, ids);
    const c = diff(routed, after, ids, 4242, lan);
    expect(c.ct).toEqual(['route del default via 169.254.0.1 dev venet0 onlink', 'addr del 198.18.0.1/32 dev venet0']);
    expect(c.host).toEqual(['route del 198.18.0.1/32 dev vz-101', 'neigh del proxy 198.18.0.1 dev eth0']);
    // All addresses gone: the pair goes.
    expect(diff(routed, emptyNet(), ids, 4242, lan).host).toEqual(['link del dev vz-101', 'neigh del proxy 198.18.0.1 dev eth0', 'neigh del proxy 2001:db8::1 dev eth0']);
  });

  it('bridged: the host end joins the bridge; addresses keep their prefix; the gateway route comes after the routed one', () => {
    const c0 = applyDelta(emptyNet(), { netif: [{ ifname: 'eth1', bridge: 'vmbr0' }], ifname: 'eth1', ip_address: ['198.19.0.2/24', '2001:db8:1::2/64'], gateway: '198.19.0.1' }, ids);
    const c = diff(emptyNet(), c0, ids, 7, lan);
    expect(c.bridges).toEqual(['vmbr0']);
    expect(c.host).toContain('link set dev vz-101.0 master vmbr0');
    expect(c.host.some((l) => l.startsWith('neigh'))).toBe(false);
    expect(c.ct).toEqual([
      'link set dev eth1 up',
      'addr add 198.19.0.2/24 dev eth1',
      'addr add 2001:db8:1::2/64 dev eth1 nodad',
      'route replace default via 198.19.0.1 dev eth1 metric 10',
    ]);
    const c1 = applyDelta(c0, { ifname: 'eth1', gateway: null }, ids);
    expect(diff(c0, c1, ids, 7, lan)).toMatchObject({ host: [], ct: ['route del default via 198.19.0.1 dev eth1 metric 10'] });
  });
});

describe('guest files', () => {
  it('keeps the admin\'s /etc/hosts lines and replaces its own', () => {
    const c = applyDelta(emptyNet(), { ip_address: ['198.18.0.1'] }, ids);
    const first = hostsContent('127.0.0.1\tlocalhost\n10.0.0.9 db\n', 'web1.example.test', c);
    expect(first).toBe('127.0.0.1\tlocalhost\n::1\tlocalhost\n10.0.0.9 db\n198.18.0.1\tweb1.example.test web1\t# vzkit\n');
    expect(hostsContent(first, 'web2', c)).toBe('127.0.0.1\tlocalhost\n::1\tlocalhost\n10.0.0.9 db\n198.18.0.1\tweb2\t# vzkit\n');
  });

  it('writes resolv.conf only when configured', () => {
    expect(resolvContent(emptyNet())).toBeUndefined();
    expect(resolvContent({ ...emptyNet(), nameserver: ['198.18.0.53'], searchdomain: ['a.test', 'b.test'] })).toBe(
      '# vzkit: written by vzctl set --nameserver/--searchdomain\nsearch a.test b.test\nnameserver 198.18.0.53\n',
    );
  });
});

describe('--rate', () => {
  it('parses bits per second', () => {
    expect(parseRate('100M')).toBe(100_000_000);
    expect(parseRate('1.5g')).toBe(1_500_000_000);
    expect(parseRate('512kbit')).toBe(512_000);
    expect(parseRate('unlimited')).toBeNull();
    expect(parseRate('0')).toBeNull();
    expect(() => parseRate('fast')).toThrow(/invalid rate "fast"/);
    expect(() => parseRate('1k')).toThrow(/at least 8k/);
  });

  it('shapes each host end and, through the ifb, what the container sends; none removes it', () => {
    expect(rateCommands(['vz-101'], 'vz-101.i', 8_000_000)).toEqual([
      'qdisc replace dev vz-101 root tbf rate 8000000bit burst 65536 latency 50ms',
      'qdisc replace dev vz-101 ingress',
      'filter replace dev vz-101 parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev vz-101.i',
      'qdisc replace dev vz-101.i root tbf rate 8000000bit burst 65536 latency 50ms',
    ]);
    expect(rateCommands(['vz-101'], 'vz-101.i', null)).toEqual(['qdisc del dev vz-101 root', 'qdisc del dev vz-101 ingress']);
    const c = applyDelta(emptyNet(), { ip_address: ['198.18.0.1'], rate: 8_000_000 }, ids);
    expect(netdown(c, ids, () => [])).toEqual(['link del dev vz-101', 'link del dev vz-101.i']);
  });
});
