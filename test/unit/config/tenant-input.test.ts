/**
 * Issue 13 (tenant safety): input that used to be accepted and must not be. The parsers are
 * pure; the host's routing table is given as `ip -j route` output.
 */
import { describe, expect, it } from 'vitest';
import { devnodeBlocked, forbiddenDevName, parseDevnodes } from '../../../src/config/limits.js';
import { parseIp } from '../../../src/net/addr.js';
import { parseNetifAdd } from '../../../src/net/params.js';
import { hostAddressConflict, parseRoutes } from '../../../src/net/hostaddr.js';
import { parseDumpdir } from '../../../src/backup/dumpdir.js';
import { jobFromArgs } from '../../../src/sched/spec.js';
import { createdLimits } from '../../../src/core/ops/create.js';
import { formatLimits } from '../../../src/cli/create.js';
import { vzError } from './helpers.js';

describe('devnodes: host terminals, memory and input devices are refused', () => {
  it.each(['pts/0', 'pts/12', 'pts', 'ptmx', 'console', 'tty', 'tty1', 'ttyS0', 'ttyUSB0', 'vcs1', 'vcsa', 'mem', 'kmem', 'port', 'core', 'kmsg',
    'input/event0', 'uinput', 'cpu/0/msr', 'fb0', 'snapshot', 'watchdog', 'watchdog0', 'fd/0', 'stdin', 'stderr', 'mapper/control', 'loop-control'])('%s', (name) => {
    vzError(() => parseDevnodes(`${name}:rw`), 'INVALID', `invalid devnodes entry "${name}:rw": /dev/${name} is `);
  });

  it('keeps what a container may get (disks, tun, fuse, kvm) and lets "none" remove a stored bad one', () => {
    expect(parseDevnodes('sdb1:rw,net/tun:rw loop3:r kvm:rw dri/renderD128:rw')).toEqual({ sdb1: 'rw', 'net/tun': 'rw', loop3: 'r', kvm: 'rw', 'dri/renderD128': 'rw' });
    expect(parseDevnodes('pts/0:none')).toEqual({ 'pts/0': 'none' });
  });

  it('by device number too (a symlink or other name for the same node)', () => {
    expect(devnodeBlocked('c', 136, 0)).toMatch(/terminal/); // pts/0
    expect(devnodeBlocked('c', 5, 1)).toMatch(/terminal/); // console
    expect(devnodeBlocked('c', 4, 64)).toMatch(/terminal/); // ttyS0
    expect(devnodeBlocked('c', 1, 1)).toMatch(/memory/); // mem
    expect(devnodeBlocked('c', 1, 11)).toMatch(/kernel log/); // kmsg
    expect(devnodeBlocked('c', 13, 64)).toMatch(/input/);
    expect(devnodeBlocked('c', 10, 223)).toMatch(/control/); // uinput
    expect(devnodeBlocked('c', 1, 3)).toBeUndefined(); // null
    expect(devnodeBlocked('c', 10, 200)).toBeUndefined(); // net/tun
    expect(devnodeBlocked('b', 7, 3)).toBeUndefined(); // loop3 (block major 7, not vcs)
    expect(devnodeBlocked('b', 8, 17)).toBeUndefined(); // sdb1
    expect(forbiddenDevName('sdb1')).toBeUndefined();
  });
});

describe('IPv4 written as IPv6 is not a container address', () => {
  it.each(['::ffff:198.18.0.2', '::FFFF:c612:2', '0:0:0:0:0:ffff:c612:0002', '::ffff:198.18.0.2/128', '::ffff:0:198.18.0.2', '::198.18.0.2', '::2'])('%s', (a) => {
    vzError(() => parseIp(a), 'INVALID', /an IPv4 address written as IPv6 \(use (198\.18\.0\.2|0\.0\.0\.2)\)/);
  });

  it('keeps real IPv6 addresses, NAT64 included', () => {
    expect(parseIp('2001:db8::7').addr).toBe('2001:db8::7');
    expect(parseIp('64:ff9b::c612:2').addr).toBe('64:ff9b::c612:2');
    expect(parseIp('::1:0:0:0').addr).toBe('::1:0:0:0');
  });
});

describe('netif_add: lo and the kernel\'s "all"/"default" as host end or bridge', () => {
  it.each(['eth0,,lo', 'eth0,,,,lo', 'eth0,,all', 'eth0,,,,default', 'eth0,,default,,br0'])('%s', (spec) => {
    vzError(() => parseNetifAdd(spec), 'INVALID', /is reserved/);
  });

  it('keeps ordinary names', () => {
    expect(parseNetifAdd('eth0,,veth1,,br0')).toEqual([{ ifname: 'eth0', host_ifname: 'veth1', bridge: 'br0' }]);
  });
});

describe('job --dumpdir', () => {
  const job = (dumpdir: string) => jobFromArgs('nightly', 'backup', { schedule: '0 2 * * *', dumpdir }, [101]);
  it.each([['/srv/dump\n', /control character/], ['/srv/du\rmp', /control character/], ['/srv/\u001b[2Jdump', /control character/], ['srv/dump', /absolute path/], ['./dump', /absolute path/], ['', /needs a directory/]])('refuses %j', (d, why) => {
    vzError(() => job(d), 'INVALID', why);
  });

  it('keeps an absolute path (normalized) and vzdump keeps a relative one', () => {
    expect(job('/srv//dump/').options).toMatchObject({ dumpdir: '/srv/dump/' });
    expect(parseDumpdir('dump', { absolute: false })).toBe('dump');
    vzError(() => parseDumpdir('du\nmp', { absolute: false }), 'INVALID', /control character/);
  });
});

describe('host addresses (ip -j route show table all)', () => {
  const v4 = parseRoutes(JSON.stringify([
    { dst: 'default', gateway: '192.0.2.1', dev: 'eth0', flags: [] },
    { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '192.0.2.2', flags: [] },
    { dst: '10.8.0.0/16', gateway: '192.0.2.254', dev: 'eth0', protocol: 'static', flags: [] },
    { dst: '192.0.2.128/26', dev: 'tun0', protocol: 'boot', scope: 'link', flags: [] },
    { type: 'unreachable', dst: '203.0.113.0/24', flags: [] },
    { dst: '203.0.113.9', dev: 'vz-101', protocol: 'boot', scope: 'link', flags: [] },
    { dst: '203.0.113.10', dev: 'other-7', protocol: 'boot', scope: 'link', flags: [] },
    { dst: '172.16.0.0/12', protocol: 'zebra', nexthops: [{ gateway: '192.0.2.251', dev: 'eth0' }, { gateway: '192.0.2.252', dev: 'eth0' }], flags: [] },
    { type: 'local', dst: '192.0.2.2', dev: 'eth0', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '192.0.2.2', flags: [] },
    { type: 'local', dst: '100.64.0.0/24', dev: 'lo', table: 'local', protocol: 'static', scope: 'host', flags: [] },
    { type: 'broadcast', dst: '192.0.2.255', dev: 'eth0', table: 'local', protocol: 'kernel', scope: 'link', flags: [] },
  ]), 4);
  const v6 = parseRoutes(JSON.stringify([
    { dst: 'fd00::/64', dev: 'eth0', protocol: 'kernel', metric: 256, flags: [] },
    { dst: 'default', gateway: 'fd00::1', dev: 'eth0', metric: 1024, flags: [] },
    { type: 'local', dst: 'fd00::2', dev: 'eth0', table: 'local', protocol: 'kernel', flags: [] },
    { type: 'anycast', dst: 'fd00::', dev: 'eth0', table: 'local', protocol: 'kernel', flags: [] },
  ]), 6);
  const routes = [...v4, ...v6];
  const own = (dev: string) => dev.startsWith('vz-');
  const check = (a: string, routed = true) => hostAddressConflict(parseIp(a), routes, routed, own);

  it.each([
    ['192.0.2.2', 'IP_IN_USE', /an address of the host \(on eth0\)/],
    ['100.64.0.7', 'IP_IN_USE', /answered by the host itself \(local route 100\.64\.0\.0\/24\)/],
    ['fd00::2', 'IP_IN_USE', /an address of the host/],
    ['192.0.2.1', 'IP_IN_USE', /gateway of the host's default route on eth0/],
    ['192.0.2.252', 'IP_IN_USE', /gateway of the host's route 172\.16\.0\.0\/12/],
    ['fd00::1', 'IP_IN_USE', /gateway/],
    ['192.0.2.255', 'INVALID', /broadcast address/],
    ['192.0.2.0', 'INVALID', /network address of the host's subnet 192\.0\.2\.0\/24 on eth0/],
    ['fd00::', 'INVALID', /anycast/],
    ['10.8.3.4', 'INVALID', /inside the host's route 10\.8\.0\.0\/16 via 192\.0\.2\.254 dev eth0/],
    ['192.0.2.130', 'INVALID', /inside the host's route 192\.0\.2\.128\/26 dev tun0/],
    ['172.20.0.1', 'INVALID', /inside the host's route 172\.16\.0\.0\/12 via 192\.0\.2\.251/],
    ['203.0.113.10', 'INVALID', /route 203\.0\.113\.10 dev other-7/],
  ])('refuses %s', (a, code, why) => {
    const c = check(a);
    expect(c?.code).toBe(code);
    expect(c?.why).toMatch(why);
  });

  it.each([
    '192.0.2.77', // in the connected LAN: proxy ARP publishes it there
    'fd00::77',
    '198.51.100.7', // under the default route
    '203.0.113.5', // under an unreachable fence: a block routed to the host
    '203.0.113.9', // this node's own host route (the state database catches a second use)
    '2001:db8::7',
  ])('allows %s', (a) => {
    expect(check(a)).toBeUndefined();
  });

  it('a bridged address is not routed by the host: only its own, gateway, network and broadcast addresses count', () => {
    expect(check('10.8.3.4', false)).toBeUndefined();
    expect(check('192.0.2.2', false)?.code).toBe('IP_IN_USE');
    expect(check('192.0.2.0', false)?.code).toBe('INVALID');
  });
});

describe("create's limits", () => {
  it('shows what a container got (vSwap: no swap given = none; no RAM limit = swap unlimited)', () => {
    const M = 2 ** 20;
    expect(formatLimits(createdLimits({ ram: 512 * M, swap: 512 * M, cpulimit: 100, cpuunits: 1000, numproc: 1024 }))).toBe(
      'ram 512M, swap 512M, cpulimit 100%, cpus all, cpuunits 1000, numproc 1024, diskspace unlimited',
    );
    expect(createdLimits({ ram: 64 * M })).toMatchObject({ ram: 64 * M, swap: 0, cpulimit: null, numproc: null });
    expect(formatLimits(createdLimits({ ram: null, numproc: null, diskspace: { soft: M, hard: 2 * M } }))).toBe(
      'ram unlimited, swap unlimited, cpulimit unlimited, cpus all, cpuunits 1000, numproc unlimited, diskspace 2M',
    );
  });
});
