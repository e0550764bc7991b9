import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { detectCgroupVersion, isCgroup2Mount } from '../../../src/cgroup/detect.js';
import { discoverHierarchies, parseMountinfo } from '../../../src/cgroup/v1/hierarchy.js';
import { fakeV1, fakeV2 } from '../../support/fake-cgroupfs.js';

// Verbatim from a hybrid host (kernel 6.18): every controller on its own mount.
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

// systemd-style legacy host: co-mounts, optional fields before " - ", xattr/release_agent options.
const LEGACY = `25 18 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:13 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:14 - cgroup cgroup rw,net_cls,net_prio
32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
90 32 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
91 25 0:40 / /mnt/other\\040cg rw - cgroup cgroup rw,pids
92 32 0:29 /sub /sys/fs/cgroup/memory/deeper rw - cgroup cgroup rw,memory
`;

describe('detectCgroupVersion', () => {
  it('fake v1 tree (no cgroup.controllers at the top) is v1', () => {
    expect(detectCgroupVersion(fakeV1())).toBe(1);
  });

  it('fake v2 tree (cgroup.controllers at the top) is v2', () => {
    expect(detectCgroupVersion(fakeV2())).toBe(2);
  });

  it('a missing root is not v2', () => {
    expect(detectCgroupVersion('/nonexistent/cgroup')).toBe(1);
  });

  it('on this host it agrees with statfs', () => {
    if (!existsSync('/sys/fs/cgroup')) return;
    expect(detectCgroupVersion()).toBe(isCgroup2Mount('/sys/fs/cgroup') ? 2 : 1);
    if (existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) expect(detectCgroupVersion('/sys/fs/cgroup/unified')).toBe(2);
  });

  it('is cheap (hot path)', () => {
    const root = fakeV1();
    const t = performance.now();
    for (let i = 0; i < 1000; i++) detectCgroupVersion(root);
    expect((performance.now() - t) / 1000).toBeLessThan(0.5); // ms per call
  });
});

describe('v1 hierarchy discovery', () => {
  it('parses a hybrid host', () => {
    const h = parseMountinfo(HYBRID, '/sys/fs/cgroup');
    expect(h.map((x) => x.name)).toEqual(['cpu', 'cpuacct', 'cpuset', 'memory', 'name=systemd', 'unified']);
    expect(h.find((x) => x.name === 'unified')).toEqual({ mount: '/sys/fs/cgroup/unified', controllers: [], name: 'unified' });
  });

  it('parses co-mounts, named hierarchies, drops duplicates and mounts elsewhere', () => {
    const h = parseMountinfo(LEGACY, '/sys/fs/cgroup/');
    expect(h).toEqual([
      { mount: '/sys/fs/cgroup/systemd', controllers: [], name: 'name=systemd' },
      { mount: '/sys/fs/cgroup/cpu,cpuacct', controllers: ['cpu', 'cpuacct'], name: 'cpu,cpuacct' },
      { mount: '/sys/fs/cgroup/net_cls,net_prio', controllers: ['net_cls', 'net_prio'], name: 'net_cls,net_prio' },
      { mount: '/sys/fs/cgroup/memory', controllers: ['memory'], name: 'memory' },
    ]);
    expect(parseMountinfo(LEGACY, '/mnt')).toEqual([{ mount: '/mnt/other cg', controllers: ['pids'], name: 'pids' }]);
  });

  it('takes the sub-directories of a fake root as hierarchies', () => {
    const root = fakeV1({ without: ['blkio', 'devices'] });
    const h = discoverHierarchies(root);
    expect(h.fake).toBe(true);
    expect(h.list.map((x) => x.name)).toEqual(['cpu', 'cpuacct', 'cpuset', 'freezer', 'memory', 'pids', 'name=systemd', 'unified']);
    expect(h.list.find((x) => x.name === 'memory')?.controllers).toEqual(['memory']);
  });

  it('reads a given mountinfo file for a real root', () => {
    if (!existsSync('/proc/self/mountinfo')) return;
    const h = discoverHierarchies('/sys/fs/cgroup');
    if (h.fake) return; // no cgroup mounts here (pure v2 host: the root itself is the mount)
    for (const x of h.list) expect(x.mount.startsWith('/sys/fs/cgroup/')).toBe(true);
  });
});
