/**
 * CgroupManager for v1 (legacy and hybrid hosts): one directory per hierarchy,
 * <mount>/<node>/<ctid>, including name=systemd and the controller-less unified mount so that a
 * systemd inside the container finds its cgroups. Limits are converted from v2 semantics.
 */
import { delegateDirs } from '../delegate.js';
import { join } from 'node:path';
import { joinProcsFile } from '../join.js';
import type { CgroupManager, CgroupStats, ResourceLimits } from '../types.js';
import { exists, mkdirCgroup, removeCgroupTree, waitUntil, writeValue } from '../cgfs.js';
import { killPids, treePids } from '../procs.js';
import { VzError } from '../../base/errors.js';
import { discoverHierarchies, type Hierarchies, type Hierarchy } from './hierarchy.js';
import { applyMemory, initMemory, memoryStats } from './memory.js';
import { applyCpu, cpuUsageUs } from './cpu.js';
import { applyCpuset, initCpuset } from './cpuset.js';
import { applyPids, pidsStats } from './pids.js';
import { applyBlkio } from './blkio.js';
import { applyDevices } from './devices.js';
import * as freezer from './freezer.js';

export interface V1Options {
  node: string;
  ctid: number;
  fsRoot: string;
  /** Bound for freeze and for destroy's kill/rmdir waits. */
  waitMs: number;
  hierarchies?: Hierarchies;
}

/** Which limits need which controller, in the order they are applied (cpuset before anything else). */
const APPLY: [string, (l: ResourceLimits) => boolean, (dir: string, l: ResourceLimits, ctid?: number) => void][] = [
  ['cpuset', (l) => l.cpus !== undefined, applyCpuset],
  ['memory', (l) => l.memoryMax !== undefined || l.memorySwapMax !== undefined, applyMemory],
  ['cpu', (l) => l.cpuWeight !== undefined || l.cpuMax !== undefined, applyCpu],
  ['pids', (l) => l.pidsMax !== undefined, applyPids],
  ['blkio', (l) => !!l.io?.length, applyBlkio],
  ['devices', (l) => !!l.devices?.length, applyDevices],
];

export class CgroupV1Manager implements CgroupManager {
  readonly version = 1 as const;
  private readonly h: Hierarchies;

  constructor(private readonly o: V1Options) {
    this.h = o.hierarchies ?? discoverHierarchies(o.fsRoot);
  }

  private ct(h: Hierarchy): string {
    return join(h.mount, this.o.node, String(this.o.ctid));
  }

  /** The container's dir in the hierarchy carrying controller, if that controller is mounted. */
  private ctFor(controller: string): string | undefined {
    const h = this.h.list.find((x) => x.controllers.includes(controller));
    return h && this.ct(h);
  }

  private need(controller: string): string {
    const d = this.ctFor(controller);
    if (!d) throw new VzError('UNSUPPORTED', `cgroup v1 controller ${controller} is not mounted under ${this.o.fsRoot}`, { ctid: this.o.ctid });
    return d;
  }

  create(): void {
    if (!this.h.list.length) throw new VzError('SYSTEM', `no cgroup hierarchies found under ${this.o.fsRoot}`, { ctid: this.o.ctid });
    for (const h of this.h.list) {
      let dir = h.mount;
      for (const part of [...this.o.node.split('/'), String(this.o.ctid)]) {
        dir = join(dir, part);
        const created = mkdirCgroup(dir, this.h.fake);
        // Every level, not only new ones: repairs a dir left half-made by an interrupted create.
        if (h.controllers.includes('cpuset')) initCpuset(dir, this.o.ctid);
        if (created && h.controllers.includes('memory')) initMemory(dir);
      }
    }
  }

  addProcess(pid: number): void {
    for (const h of this.h.list) {
      writeValue(join(this.ct(h), 'cgroup.procs'), pid, `adding pid ${pid} to the ${h.name} cgroup`, this.o.ctid);
    }
  }

  /** v1: the container's own cgroups take the task (only a v2 container cgroup refuses it). */
  addProcessBelow(pid: number): void {
    this.addProcess(pid);
  }

  removeBelow(): void {}

  procsFiles(initPid?: number): string[] {
    // The controller-less cgroup2 of a hybrid host is where a systemd inside keeps its units.
    return this.h.list.map((h) => (h.name === 'unified' ? joinProcsFile(h.mount, this.ct(h), initPid) : join(this.ct(h), 'cgroup.procs')));
  }

  /** All at the same depth (one per hierarchy), so any order is children-before-parents. */
  memoryDir(): string | undefined {
    return this.ctFor('memory');
  }

  unifiedDir(): string | undefined {
    const h = this.h.list.find((x) => x.name === 'unified');
    return h && this.ct(h);
  }

  delegate(uid: number, gid: number): void {
    delegateDirs(this.dirs(), uid, gid);
  }

  dirs(): string[] {
    return this.h.list.map((h) => this.ct(h));
  }

  apply(limits: ResourceLimits): void {
    for (const [controller, wanted, fn] of APPLY) {
      if (wanted(limits)) fn(this.need(controller), limits, this.o.ctid);
    }
  }

  freeze(): void {
    freezer.freeze(this.need('freezer'), this.o.waitMs, this.o.ctid);
  }

  thaw(): void {
    freezer.thaw(this.need('freezer'), this.o.ctid);
  }

  thawWrite(): { file: string; value: string } {
    return { file: join(this.need('freezer'), 'freezer.state'), value: 'THAWED' };
  }

  stats(): CgroupStats {
    const mem = this.ctFor('memory');
    const pids = this.ctFor('pids');
    const acct = this.ctFor('cpuacct');
    return {
      ...(mem ? memoryStats(mem) : { memoryCurrent: 0 }),
      ...((pids ? pidsStats(pids) : undefined) ?? { pidsCurrent: this.pids().length }),
      cpuUsageUs: acct ? cpuUsageUs(acct) : 0,
    };
  }

  /** From the memory hierarchy (or pids, or whatever there is), sub-cgroups included. */
  pids(): number[] {
    const dir = this.ctFor('memory') ?? this.ctFor('pids') ?? this.dirs()[0];
    return dir ? treePids([dir]) : [];
  }

  exists(): boolean {
    return this.dirs().some(exists);
  }

  destroy(): void {
    const { ctid, waitMs } = this.o;
    const dirs = this.dirs();
    // Union over all hierarchies: a task may have been moved around in some of them only.
    const emptied = waitUntil(() => {
      const pids = treePids(dirs);
      if (pids.length) this.killFrozen(dirs);
      return pids.length === 0;
    }, waitMs);
    if (!emptied) {
      throw new VzError('SYSTEM', `cgroup of CT ${ctid} still has processes after SIGKILL: ${treePids(dirs).join(' ')}`, { ctid });
    }
    let last: unknown;
    const removed = waitUntil(() => {
      try {
        for (const d of dirs) removeCgroupTree(d, this.h.fake);
        return true;
      } catch (e) {
        last = e; // EBUSY while the last exiting task is being released: retry
        return false;
      }
    }, waitMs);
    if (!removed) throw last;
  }

  /** Freeze so nothing forks past the kill, SIGKILL everything, thaw so the signals are delivered. */
  private killFrozen(dirs: string[]): void {
    const fz = this.ctFor('freezer');
    let frozen = false;
    if (fz && exists(fz)) {
      try {
        freezer.freeze(fz, Math.min(200, this.o.waitMs), this.o.ctid);
        frozen = true;
      } catch {
        // e.g. a task stuck in D state: kill anyway
      }
    }
    killPids(treePids(dirs), this.o.ctid);
    if (frozen) freezer.thaw(fz!, this.o.ctid);
  }
}
