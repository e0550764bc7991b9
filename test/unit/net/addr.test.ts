import { describe, expect, it } from 'vitest';
import { canonicalV6, formatIp, parseIp } from '../../../src/net/addr.js';
import { VzError } from '../../../src/base/errors.js';

describe('IP addresses', () => {
  it('canonicalizes IPv6 (RFC 5952) so equal addresses compare equal', () => {
    expect(canonicalV6('2001:0DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(canonicalV6('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canonicalV6('2001:db8::0:1')).toBe('2001:db8::1');
    expect(canonicalV6('::ffff:198.18.0.1')).toBe('::ffff:c612:1');
    expect(canonicalV6('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2:3:4:5:6');
    expect(canonicalV6('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // a single zero group stays
  });

  it('parses addresses with and without prefix', () => {
    expect(parseIp('198.18.0.5')).toEqual({ family: 4, addr: '198.18.0.5', prefix: 32 });
    expect(parseIp('198.18.0.5/24')).toEqual({ family: 4, addr: '198.18.0.5', prefix: 24 });
    expect(parseIp('2001:DB8::0005/64')).toEqual({ family: 6, addr: '2001:db8::5', prefix: 64 });
    expect(formatIp(parseIp('2001:db8::5'))).toBe('2001:db8::5');
    expect(formatIp(parseIp('198.18.0.5/24'))).toBe('198.18.0.5/24');
  });

  it.each([
    ['198.18.0.300', /not an IPv4 or IPv6/],
    ['198.18.0', /not an IPv4 or IPv6/],
    ['2001:db8::zz', /not an IPv4 or IPv6/],
    ['fe80::1%eth0', /not an IPv4 or IPv6/],
    ['198.18.0.5/33', /prefix must be 1\.\.32/],
    ['198.18.0.5/0', /prefix must be/],
    ['2001:db8::1/129', /prefix must be 1\.\.128/],
    ['198.18.0.5/24/1', /expected ADDR or ADDR\/PREFIX/],
    ['127.0.0.1', /loopback/],
    ['0.0.0.0', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['169.254.0.1', /link-local/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['ff02::1', /multicast/],
    ['fe80::5', /link-local/],
  ])('refuses %s with INVALID (exit 21)', (raw, msg) => {
    let err: unknown;
    try {
      parseIp(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VzError);
    expect((err as VzError).exit).toBe(21);
    expect((err as VzError).message).toMatch(msg);
  });
});
