/**
 * v2 device rules with a real BPF device program, on this host: BPF device programs attach to
 * any cgroup2 directory, so a hybrid cgroup v1 host's controller-less /sys/fs/cgroup/unified
 * works as well as a pure v2 /sys/fs/cgroup (in hybrid mode the kernel checks both the program
 * and the v1 devices cgroup). Needs root and the built helper (make -C native); takes ~1 s.
 * The same checks run in the pure v2 VM (v2.test.ts, VZKIT_V2_VM=1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createCgroupManager, devicePrograms, removeNodeCgroups, type CgroupManager, type DeviceRule } from '../../../src/cgroup/index.js';
import { DEFAULT_DEVICE_RULES } from '../../../src/cgroup/v1/devices.js';
import { isCgroup2Mount } from '../../../src/cgroup/detect.js';

const helper = new URL('../../../native/build/ctspawn', import.meta.url).pathname;
const mount = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'].find(isCgroup2Mount);
const enabled = process.getuid?.() === 0 && !!mount && existsSync(helper);

/** Opens each [path, flags] in a child that is in the cgroup from its first instruction; path -> 'ok' | errno code. */
const PROBE = `const fs = require('fs'), r = {};
for (const [p, f] of JSON.parse(process.argv[1])) { try { fs.closeSync(fs.openSync(p, f)); r[p + ' ' + f] = 'ok'; } catch (e) { r[p + ' ' + f] = e.code; } }
console.log(JSON.stringify(r));`;

describe.skipIf(!enabled)(`v2 device rules: real BPF program on ${mount ?? 'a cgroup2 mount'}`, () => {
  const node = `vzkit-devtest-${process.pid}`;
  let cg: CgroupManager;
  const dir = (): string => cg.dirs()[0]!;
  const probe = (specs: [string, string][]): Record<string, string> => {
    const r = spawnSync('sh', ['-c', 'echo $$ > "$0" && exec "$@"', cg.procsFiles()[0]!, process.execPath, '-e', PROBE, JSON.stringify(specs)], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000,
    });
    if (r.status !== 0) throw new Error(`probe: ${r.status} ${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  beforeAll(() => {
    cg = createCgroupManager({ node, ctid: 1, fsRoot: mount!, version: 2 });
    cg.create();
  });

  afterAll(() => {
    cg?.destroy();
    removeNodeCgroups(node, mount!);
  });

  it('DEFAULT_DEVICE_RULES: the allow-list opens, anything else is EPERM', () => {
    cg.apply({ devices: DEFAULT_DEVICE_RULES });
    // /dev/kmsg (1:11) is not on the list (no /dev/mem on every host: kmsg is)
    expect(probe([['/dev/null', 'w'], ['/dev/zero', 'r'], ['/dev/urandom', 'r'], ['/dev/kmsg', 'r']])).toEqual({
      '/dev/null w': 'ok', '/dev/zero r': 'ok', '/dev/urandom r': 'ok', '/dev/kmsg r': 'EPERM',
    });
    const progs = devicePrograms(dir());
    expect(progs.filter((p) => p.name === 'vzkit_devices')).toHaveLength(1);
  });

  it('a second apply replaces the program: one vzkit program, the new policy', () => {
    const before = devicePrograms(dir()).find((p) => p.name === 'vzkit_devices')!;
    const rules: DeviceRule[] = [
      { allow: false, type: 'a', major: '*', minor: '*', access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'r' }, // /dev/null read-only, no /dev/zero (1:5)
    ];
    cg.apply({ devices: rules });
    const after = devicePrograms(dir()).filter((p) => p.name === 'vzkit_devices');
    expect(after).toHaveLength(1);
    expect(after[0]!.id).not.toBe(before.id);
    expect(probe([['/dev/null', 'r'], ['/dev/null', 'w'], ['/dev/zero', 'r']])).toEqual({ '/dev/null r': 'ok', '/dev/null w': 'EPERM', '/dev/zero r': 'EPERM' });
  });

  it('a refused rule keeps the program in force', () => {
    const before = devicePrograms(dir());
    const bad: DeviceRule[] = [
      { allow: false, type: 'a', major: '*', minor: '*', access: 'rwm' },
      { allow: true, type: 'c', major: '*', minor: '*', access: 'm' },
      { allow: false, type: 'c', major: 1, minor: 5, access: 'm' },
    ];
    expect(() => cg.apply({ devices: bad })).toThrow(expect.objectContaining({ code: 'INVALID', message: expect.stringContaining('cannot punch a hole') }));
    expect(devicePrograms(dir())).toEqual(before);
  });
});
