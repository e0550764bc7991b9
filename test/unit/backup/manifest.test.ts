/**
 * vzdump.yaml from an archive is untrusted input: every field is checked like a command-line
 * value, every parameter goes through the parameter table, and what widens access is dropped
 * unless trusted (archive-params.ts).
 */
import { describe, expect, it } from 'vitest';
import { vzError } from '../config/helpers.js';
import { dump } from 'js-yaml';
import { makeManifest, manifestYaml, parseManifest } from '../../../src/backup/manifest.js';
import { archiveParams, type ArchiveParamsOptions } from '../../../src/backup/archive-params.js';
import { VzError } from '../../../src/base/errors.js';
import type { ContainerRow } from '../../../src/state/types.js';

const row = { ctid: 101, name: 'web', ostemplate: 'busybox', profile: 'default', uidSize: 65536, uidBase: 200000 } as ContainerRow;
const internals = { _init: ['/sbin/init'], _init_type: 'busybox', _distro: 'busybox', _halt_signal: 'SIGUSR1', _reboot_signal: 'SIGTERM' };
const good = () => makeManifest(row, { hostname: 'web1', ram: 536870912, ...internals }, { mode: 'stop', node: 'vz', at: new Date('2026-01-02T03:04:05Z'), checkpoint: false });
const text = (edit: (m: Record<string, unknown>) => void) => {
  const m = good() as unknown as Record<string, unknown>;
  edit(m);
  return dump(m);
};

function refused(fn: () => unknown, re: RegExp): VzError {
  return vzError(fn, 'INVALID', re);
}

describe('parseManifest', () => {
  it('reads back what vzdump writes, without the node-internal keys', () => {
    const m = parseManifest(manifestYaml(good()), 'a.tar');
    expect(m).toMatchObject({ ctid: 101, name: 'web', ostemplate: 'busybox', profile: 'default', node: 'vz', uid_base: 200000, checkpoint: false });
    expect(m.params).toEqual({ hostname: 'web1', ram: 536870912 });
  });

  it('refuses bad fields in one line naming them', () => {
    refused(() => parseManifest(text((m) => (m.hook = 'x')), 'a.tar'), /^a\.tar: vzdump\.yaml: hook: unknown field$/);
    refused(() => parseManifest(text((m) => (m.name = 'web\nevil')), 'a.tar'), /vzdump\.yaml: name: invalid name "web\\nevil"/);
    refused(() => parseManifest(text((m) => (m.ostemplate = '../../etc/passwd')), 'a.tar'), /ostemplate: not a template or profile name/);
    refused(() => parseManifest(text((m) => (m.profile = 'x y')), 'a.tar'), /profile: not a template or profile name/);
    refused(() => parseManifest(text((m) => (m.node = 'node\n1')), 'a.tar'), /node: "node" must be 1-8 characters/);
    refused(() => parseManifest(text((m) => (m.mode = 'rm -rf')), 'a.tar'), /mode: expected stop, suspend, snapshot/);
    refused(() => parseManifest(text((m) => (m.uid_base = -1)), 'a.tar'), /uid_base: expected an integer in 0\.\./);
    refused(() => parseManifest(text((m) => (m.uid_size = 1.5)), 'a.tar'), /uid_size: expected an integer/);
    refused(() => parseManifest(text((m) => (m.checkpoint = 'yes')), 'a.tar'), /checkpoint: expected true or false/);
    refused(() => parseManifest(text((m) => (m.created = 'now\n')), 'a.tar'), /created: expected an ISO 8601 UTC time/);
    refused(() => parseManifest(text((m) => (m.params = ['x'])), 'a.tar'), /params: expected a mapping/);
    refused(() => parseManifest(text((m) => (m.format = 2)), 'a.tar'), /backup format number 2 is not supported/);
    refused(() => parseManifest('a: [\n', 'a.tar'), /^a\.tar: vzdump\.yaml:2: /);
  });

  it('refuses an alias bomb before anything walks it', () => {
    // "billion laughs": 10 levels of 10 aliases, 10^10 values once expanded.
    const levels = Array.from({ length: 10 }, (_, i) => (i === 0 ? '  a0: &a0 [l, l, l, l, l, l, l, l, l, l]\n' : `  a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`));
    const y = manifestYaml(good()).replace(/^params:\n/m, `params:\n${levels.join('')}`);
    const t = Date.now();
    refused(() => parseManifest(y, 'a.tar'), /a\.tar: vzdump\.yaml: more than 100000 values once its aliases are expanded/);
    expect(Date.now() - t).toBeLessThan(500);
  });
});

describe('archiveParams', () => {
  const opts = (over: Partial<ArchiveParamsOptions> = {}): ArchiveParamsOptions => ({
    trust: false,
    internals,
    source: { node: 'vz', ctid: 101 },
    target: { node: 'vz', ctid: 102 },
    where: 'a.tar: vzdump.yaml',
    ...over,
  });
  const netif = { ifname: 'eth0', mac: '02:00:00:00:00:01', host_ifname: 'vz-101.0', host_mac: '02:00:00:00:00:02', bridge: 'br0', ip: ['10.1.2.3/24'], gateway: '10.1.2.1' };

  it('parses stored values as their flags would be, and adds the internal keys of this node', () => {
    const r = archiveParams(
      { hostname: 'web1', ram: 536870912, swap: null, cpumask: null, diskspace: { soft: 1048576, hard: null }, diskinodes: { soft: 1000, hard: 2000 }, ip_address: ['198.18.0.1'], nameserver: 'inherit', onboot: true, rate: 100000000 },
      opts(),
    );
    expect(r.dropped).toEqual([]);
    expect(r.params).toEqual({
      hostname: 'web1',
      ram: 536870912,
      swap: null,
      cpumask: null,
      diskspace: { soft: 1048576, hard: null },
      diskinodes: { soft: 1000, hard: 2000 },
      ip_address: ['198.18.0.1'],
      nameserver: 'inherit',
      onboot: true,
      rate: 100000000,
      ...internals,
    });
  });

  it('refuses unknown, non-stored and internal keys (unless an internal one is what this node derives)', () => {
    refused(() => archiveParams({ evil: 1 }, opts()), /^a\.tar: vzdump\.yaml: params\.evil: unknown parameter$/);
    refused(() => archiveParams({ ssh_key: ['ssh-ed25519 AAAA'] }, opts()), /params\.ssh_key: not a stored parameter/);
    refused(() => archiveParams({ _init: ['/bin/sh', '-c', 'id'] }, opts()), /params\._init: internal keys are not taken from an archive/);
    refused(() => archiveParams({ _new_internal: 1 }, opts()), /params\._new_internal: internal keys/);
    expect(archiveParams({ _init: ['/sbin/init'], _halt_signal: 'SIGUSR1' }, opts()).params).toEqual(internals);
  });

  it('refuses values a flag would refuse, naming the key', () => {
    refused(() => archiveParams({ hostname: 'a\nb' }, opts()), /params\.hostname: invalid hostname "a\\nb"/);
    refused(() => archiveParams({ ram: 'lots' }, opts()), /params\.ram: invalid size "lots"/);
    refused(() => archiveParams({ ip_address: ['10.0.0.1\nlink del eth0'] }, opts()), /params\.ip_address: invalid IP address/);
    refused(() => archiveParams({ diskspace: { soft: 1, hard: 2, extra: 3 } }, opts()), /params\.diskspace: unknown key "extra"/);
    refused(() => archiveParams({ devnodes: { '../sda': 'rw' } }, opts()), /params\.devnodes: invalid devnodes entry/);
    refused(() => archiveParams({ capability: { sys_module: 'yes' } }, opts()), /params\.capability: invalid capability/);
    refused(() => archiveParams({ netif: [{ ...netif, bridge: 'br0\nnetns exec x sh' }] }, opts()), /params\.netif: invalid bridge name/);
    refused(() => archiveParams({ netif: [{ ...netif, mac: '01:00:00:00:00:01' }] }, opts()), /params\.netif: invalid MAC address .*multicast/);
    refused(() => archiveParams({ description: { a: 1 } }, opts()), /params\.description: "description" must be a string/);
  });

  it('drops what widens access unless trusted, and says what', () => {
    const raw = { devnodes: { vda: 'rw', loop0: 'none' }, capability: { sys_module: 'on', sys_rawio: 'on', chown: 'on', net_admin: 'off' }, netif: [netif, { ...netif, ifname: 'eth1', host_ifname: 'mine', bridge: undefined, ip: [], gateway: undefined }] };
    const r = archiveParams(structuredClone(raw), opts());
    expect(r.dropped).toEqual(['devnodes vda:rw', 'capability sys_module:on', 'capability sys_rawio:on', 'bridge br0 of eth0', 'host interface name mine of eth1']);
    expect(r.params.devnodes).toBeUndefined();
    expect(r.params.capability).toEqual({ chown: 'on', net_admin: 'off' });
    // Host ends get this node's names for the target CTID; the rest of each interface stays.
    expect(r.params.netif).toEqual([
      { ifname: 'eth0', mac: '02:00:00:00:00:01', host_ifname: 'vz-102.0', host_mac: '02:00:00:00:00:02', ip: ['10.1.2.3/24'], gateway: '10.1.2.1' },
      { ifname: 'eth1', mac: '02:00:00:00:00:01', host_ifname: 'vz-102.1', host_mac: '02:00:00:00:00:02', ip: [] },
    ]);
    const t = archiveParams(structuredClone(raw), opts({ trust: true }));
    expect(t.dropped).toEqual([]);
    expect(t.params.devnodes).toEqual({ vda: 'rw', loop0: 'none' });
    expect(t.params.capability).toEqual(raw.capability);
    expect((t.params.netif as Array<Record<string, unknown>>).map((n) => [n.host_ifname, n.bridge])).toEqual([
      ['vz-102.0', 'br0'],
      ['mine', undefined],
    ]);
  });

  it('features nesting:on (a looser seccomp policy) is dropped unless trusted; nesting:off stays', () => {
    const r = archiveParams({ features: { nesting: 'on' } }, opts());
    expect(r.dropped).toEqual(['features nesting:on']);
    expect(r.params.features).toBeUndefined();
    expect(archiveParams({ features: { nesting: 'off' } }, opts()).params.features).toEqual({ nesting: 'off' });
    const t = archiveParams({ features: { nesting: 'on' } }, opts({ trust: true }));
    expect(t.dropped).toEqual([]);
    expect(t.params.features).toEqual({ nesting: 'on' });
  });
});
