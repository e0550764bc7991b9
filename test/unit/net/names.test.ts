import { describe, expect, it } from 'vitest';
import { stableMac, parseMac } from '../../../src/net/mac.js';
import { checkIfname, hostIfname } from '../../../src/net/ifname.js';

describe('MACs and interface names', () => {
  it('generates stable, locally administered unicast MACs that differ per node, CT, interface and side', () => {
    const m = stableMac('vz', 101, 'eth0', 'ct');
    expect(m).toBe(stableMac('vz', 101, 'eth0', 'ct'));
    expect(m).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(parseInt(m.slice(0, 2), 16) & 3).toBe(2);
    const others = [stableMac('vz2', 101, 'eth0', 'ct'), stableMac('vz', 102, 'eth0', 'ct'), stableMac('vz', 101, 'eth1', 'ct'), stableMac('vz', 101, 'eth0', 'host')];
    expect(new Set([m, ...others]).size).toBe(5);
  });

  it('validates MACs', () => {
    expect(parseMac('02-AA-bb-00-00-01')).toBe('02:aa:bb:00:00:01');
    expect(() => parseMac('01:00:5e:00:00:01')).toThrow(/multicast/);
    expect(() => parseMac('02:00:00:00:00')).toThrow(/XX:XX/);
  });

  it('names host ends within IFNAMSIZ, unique per node, CT and interface', () => {
    expect(hostIfname('vz', 101, 'routed')).toBe('vz-101');
    expect(hostIfname('vz', 101, 0)).toBe('vz-101.0');
    const long = hostIfname('abcdefgh', 2147483647, 3);
    expect(long.length).toBeLessThanOrEqual(15);
    expect(long).toMatch(/^abcdefgh-[0-9a-z]+$/);
    expect(long).toBe(hostIfname('abcdefgh', 2147483647, 3));
    expect(long).not.toBe(hostIfname('abcdefgh', 2147483647, 4));
    expect(hostIfname('abcdefgh', 2147483647, 'routed')).not.toBe(long);
  });

  it('checks interface and bridge names like the kernel', () => {
    expect(checkIfname('vmbr0', 'bridge name')).toBe('vmbr0');
    for (const bad of ['', '.', '..', 'a/b', 'a:b', 'a b', 'x'.repeat(16), 'brü']) {
      expect(() => checkIfname(bad, 'bridge name')).toThrow(/invalid bridge name/);
    }
  });
});
