/** CgroupManager for a unified (cgroup v2) host: one directory, <fsRoot>/<node>/<ctid>. */
import { delegateDirs } from '../delegate.js';
import { basename, join } from 'node:path';
import { rmdirSync } from 'node:fs';
import { joinProcsFile } from '../join.js';
import type { CgroupManager, CgroupStats, ResourceLimits } from '../types.js';
import { exists, mkdirCgroup, readKeyed, removeCgroupTree, waitUntil, writeValue } from '../cgfs.js';
import { isCgroup2Mount } from '../detect.js';
import { killPids, treePids } from '../procs.js';
import { VzError } from '../../base/errors.js';
import { enableControllers, missingControllerReason, type EnableRefusal } from './subtree.js';
import { applyMemory, memoryStats } from './memory.js';
import { applyCpu, cpuUsageUs } from './cpu.js';
import { applyCpuset } from './cpuset.js';
import { applyPids, pidsStats } from './pids.js';
import { applyIo } from './io.js';
import { applyDevices, type HelperRunner } from './devices.js';
import * as freezer from './freezer.js';

export interface V2Options {
  node: string;
  ctid: number;
  fsRoot: string;
  /** Bound for freeze and for destroy's kill/rmdir waits. */
  waitMs: number;
  /** Runs ctspawn (device rules); default: the built helper, synchronously. */
  runHelper?: HelperRunner;
}

/** Control-file prefixes that name a controller ("memory.max" -> memory); cgroup.* is core. */
const CONTROLLER_FILE = /^(cpu|cpuset|memory|pids|io|hugetlb|rdma|misc)\./;

export class CgroupV2Manager implements CgroupManager {
  readonly version = 2 as const;
  private readonly dir: string;
  private readonly fake: boolean;
  /** What the kernel refused to enable during create() in this process (for apply's errors). */
  private refused: EnableRefusal[] = [];

  constructor(private readonly o: V2Options) {
    this.dir = join(o.fsRoot, o.node, String(o.ctid));
    this.fake = !isCgroup2Mount(o.fsRoot);
  }

  create(): void {
    let dir = this.o.fsRoot;
    const refused: EnableRefusal[] = [];
    // Root (when allowed) and every node level enable controllers for their children; the CT dir does not.
    for (const part of this.o.node.split('/')) {
      refused.push(...enableControllers(dir));
      dir = join(dir, part);
      mkdirCgroup(dir, this.fake);
    }
    refused.push(...enableControllers(dir));
    mkdirCgroup(this.dir, this.fake);
    this.refused = refused;
  }

  addProcess(pid: number): void {
    writeValue(join(this.dir, 'cgroup.procs'), pid, `adding pid ${pid} to the cgroup`, this.o.ctid);
  }

  addProcessBelow(pid: number, leaf: string): void {
    const d = join(this.dir, leaf);
    mkdirCgroup(d, this.fake);
    writeValue(join(d, 'cgroup.procs'), pid, `adding pid ${pid} to the cgroup`, this.o.ctid);
  }

  removeBelow(leaf: string): void {
    try {
      rmdirSync(join(this.dir, leaf));
    } catch {
      // in use or gone: destroy removes the tree
    }
  }

  procsFiles(initPid?: number): string[] {
    return [joinProcsFile(this.o.fsRoot, this.dir, initPid)];
  }

  memoryDir(): string | undefined {
    return exists(join(this.dir, 'memory.max')) ? this.dir : undefined;
  }

  unifiedDir(): string | undefined {
    return this.dir;
  }

  delegate(uid: number, gid: number): void {
    delegateDirs(this.dirs(), uid, gid);
  }

  dirs(): string[] {
    return [this.dir];
  }

  apply(limits: ResourceLimits): void {
    const { ctid } = this.o;
    try {
      applyCpuset(this.dir, limits, ctid);
      applyMemory(this.dir, limits, ctid);
      applyCpu(this.dir, limits, ctid);
      applyPids(this.dir, limits, ctid);
      applyIo(this.dir, limits, ctid);
      // A BPF program (ctspawn devices), not a controller; each call replaces the whole policy.
      applyDevices(this.dir, limits, ctid, this.o.runHelper);
    } catch (e) {
      throw this.explainMissing(e);
    }
  }

  /**
   * A control file missing in the CT dir (ENOENT) usually means its controller was not enabled
   * for it: replace the generic "not mounted or not enabled?" by the reason found upwards.
   */
  private explainMissing(e: unknown): unknown {
    const cause = e instanceof VzError ? (e.cause as NodeJS.ErrnoException | undefined) : undefined;
    if (cause?.code !== 'ENOENT' || typeof cause.path !== 'string' || !cause.path.startsWith(this.dir + '/')) return e;
    const controller = CONTROLLER_FILE.exec(basename(cause.path))?.[1];
    if (!controller) return e;
    const reason = missingControllerReason(this.o.fsRoot, this.dir, controller, this.refused);
    if (!reason) return e;
    const what = (e as VzError).message.replace(/ \(controller not mounted or not enabled\?\)$/, '');
    return new VzError('SYSTEM', `${what}: the ${controller} controller is not enabled for this cgroup: ${reason}`, { ctid: this.o.ctid, cause });
  }

  freeze(): void {
    freezer.freeze(this.dir, this.o.waitMs, this.o.ctid);
  }

  thaw(): void {
    freezer.thaw(this.dir, this.o.ctid);
  }

  thawWrite(): { file: string; value: string } {
    return { file: join(this.dir, 'cgroup.freeze'), value: '0' };
  }

  stats(): CgroupStats {
    return {
      ...memoryStats(this.dir),
      ...(pidsStats(this.dir) ?? { pidsCurrent: this.pids().length }),
      cpuUsageUs: cpuUsageUs(this.dir),
    };
  }

  pids(): number[] {
    return treePids([this.dir]);
  }

  exists(): boolean {
    return exists(this.dir);
  }

  /** "populated" covers the whole subtree; a fake tree may lack cgroup.events, then cgroup.procs decides. */
  private populated(): boolean {
    const p = readKeyed(join(this.dir, 'cgroup.events')).get('populated');
    return p === undefined ? this.pids().length > 0 : p === 1;
  }

  destroy(): void {
    const { ctid, waitMs } = this.o;
    if (!this.exists()) return;
    const killFile = join(this.dir, 'cgroup.kill');
    const hasKill = exists(killFile); // kernel >= 5.14: kills the whole subtree atomically
    const emptied = waitUntil(() => {
      if (!this.populated()) return true;
      if (hasKill) writeValue(killFile, 1, 'killing the cgroup', ctid);
      else this.killFrozen();
      return false;
    }, waitMs);
    if (!emptied) throw new VzError('SYSTEM', `cgroup of CT ${ctid} still has processes after SIGKILL: ${this.pids().join(' ')}`, { ctid });
    let last: unknown;
    const removed = waitUntil(() => {
      try {
        removeCgroupTree(this.dir, this.fake);
        return true;
      } catch (e) {
        last = e; // EBUSY while the last task is being released: retry
        return false;
      }
    }, waitMs);
    if (!removed) throw last;
  }

  /** Pre-5.14 fallback: freeze so nothing forks past the kill, SIGKILL each pid, thaw to deliver. */
  private killFrozen(): void {
    let frozen = false;
    try {
      freezer.freeze(this.dir, Math.min(200, this.o.waitMs), this.o.ctid);
      frozen = true;
    } catch {
      // kill anyway
    }
    killPids(this.pids(), this.o.ctid);
    if (frozen) freezer.thaw(this.dir, this.o.ctid);
  }
}
