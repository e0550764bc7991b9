/**
 * Names and addresses are checked where they become ip commands, not only where they were
 * parsed: a stored config that never went through the parameter table (an old vzrestore wrote
 * archive values as they were) must not put a second command into `ip -batch`.
 */
import { describe, expect, it } from 'vitest';
import { vzError } from '../config/helpers.js';
import { applyDelta, emptyNet, type NetConfig } from '../../../src/net/config.js';
import { diff, netdown } from '../../../src/net/plan.js';
import { batchText } from '../../../src/net/iproute.js';
import { parseStoredNetif, parseStoredNetifs } from '../../../src/net/params.js';
import { VzError } from '../../../src/base/errors.js';

const ids = { node: 'vz', ctid: 101 };
const lan = () => ['eth0'];

function refused(fn: () => unknown, re: RegExp): VzError {
  return vzError(fn, 'INVALID', re);
}

describe('interface names are checked where they are used', () => {
  const good = applyDelta(emptyNet(), { netif: [{ ifname: 'eth0', bridge: 'br0' }] }, ids);
  const tamper = (f: (n: Record<string, unknown>) => void): NetConfig => {
    const c = structuredClone(good);
    f(c.netifs[0] as unknown as Record<string, unknown>);
    return c;
  };
  const inject = 'x\nnetns exec vzkit-evil /bin/sh -c "touch /tmp/owned"';

  it('a stored bridge, interface or host interface name with a newline is refused by the plan', () => {
    for (const key of ['bridge', 'ifname', 'host_ifname']) {
      const bad = tamper((n) => (n[key] = inject));
      refused(() => diff(emptyNet(), bad, ids, 4242, lan), /stored interface config refused: invalid (bridge|interface|host interface) name/);
      refused(() => netdown(bad, ids, lan), /stored interface config refused/);
    }
  });

  it('a stored MAC, address or gateway that is not one is refused too', () => {
    refused(() => diff(emptyNet(), tamper((n) => (n.mac = 'aa:bb:cc:dd:ee:f0 up\nlink del eth0')), ids, 1, lan), /invalid MAC address/);
    refused(() => diff(emptyNet(), tamper((n) => (n.ip = ['10.0.0.1/24 dev eth0\nlink del eth0'])), ids, 1, lan), /invalid IP address/);
    refused(() => diff(emptyNet(), tamper((n) => (n.gateway = '10.0.0.1 dev x\nlink del eth0')), ids, 1, lan), /invalid gateway/);
  });

  it('a good stored config passes unchanged', () => {
    expect(diff(emptyNet(), good, ids, 4242, lan).host).toContain(`link set dev ${good.netifs[0]!.host_ifname} master br0`);
    expect(parseStoredNetifs(good.netifs)).toEqual(good.netifs);
  });

  it('the stored form: unknown keys, wrong types and duplicates are refused', () => {
    const n = good.netifs[0]!;
    refused(() => parseStoredNetif({ ...n, script: '/bin/sh' }), /unknown key "script"/);
    refused(() => parseStoredNetif({ ...n, ip: '10.0.0.1' }), /"ip" must be a list/);
    refused(() => parseStoredNetif({ ...n, ifname: 'venet0' }), /reserved/);
    refused(() => parseStoredNetifs([n, { ...n, host_ifname: 'other' }]), /eth0 is named twice/);
  });
});

describe('ip and tc batches take plain words only', () => {
  it('refuses a newline, quotes, a comment, a backslash or a control character in any line', () => {
    for (const bad of ['link set dev a up\nnetns exec x sh', 'link set dev "a b" up', 'link set dev a up # x', 'link set dev a\\', 'link set dev a\tup', 'link set dev $(id) up']) {
      refused(() => batchText(['link set dev b up', bad], 'test'), /test: refused a command/);
    }
    expect(batchText(['link add vz-101 type veth peer name venet0 netns 42', 'addr add 2001:db8::1/128 dev venet0 nodad'], 'test')).toBe(
      'link add vz-101 type veth peer name venet0 netns 42\naddr add 2001:db8::1/128 dev venet0 nodad\n',
    );
  });

  it('the CRIU hook may carry $P (its shell puts the pid in) and nothing else of the shell', () => {
    expect(batchText(['link add a type veth peer name b netns $P'], 'hook', { shellPid: true })).toContain('netns $P');
    refused(() => batchText(['link add a netns $P$(id)'], 'hook', { shellPid: true }), /refused a command/);
    refused(() => batchText(['link add a netns $P'], 'plain'), /refused a command/);
  });
});
