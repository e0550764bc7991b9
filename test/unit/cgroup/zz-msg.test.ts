import { it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createCgroupManager } from '/work/main/src/cgroup/index.js';
import { fakeV2, put } from '/work/main/test/unit/cgroup/fakefs.js';
it('msg', () => {
  const root = fakeV2();
  const cg = createCgroupManager({ node: 'vz', ctid: 101, fsRoot: root });
  cg.create();
  put(root, 'vz/cgroup.subtree_control', 'cpu cpuset pids io'); put(root, 'vz/101/cgroup.controllers', 'cpu cpuset pids io');
  put(root, 'vz/cgroup.procs', '4242\n'); rmSync(join(root, 'vz/101/memory.max'));
  try { cg.apply({ memoryMax: 2 ** 26 }); } catch (e) { console.log((e as Error).message); }
});
