/**
 * What every operation needs: the global config, the state database (opened on first use),
 * per-container cgroup managers and the storage driver.
 */
import fs from 'node:fs';
import { loadGlobalConfig, type GlobalConfig } from '../config/global.js';
import { StateDb } from '../state/db.js';
import { createCgroupManager } from '../cgroup/index.js';
import type { CgroupManager } from '../cgroup/types.js';
import { getStorageDriver, type StorageDriver, type StorageTarget } from '../storage/index.js';
import { ctPaths, type CtPaths } from './paths.js';

export type Progress = (msg: string) => void;
/** Long work (a template build): a fraction done, when known, and what it is doing now. */
export type Status = (fraction: number | undefined, label: string) => void;

export class Context {
  readonly cfg: GlobalConfig;
  readonly progress: Progress;
  /** Something the admin should know that does not stop the operation (stderr, even with -q). */
  readonly warn: Progress;
  readonly status: Status;
  private dbHandle?: StateDb;
  private readHandle?: StateDb;

  constructor(opts: { cfg?: GlobalConfig; progress?: Progress; warn?: Progress; status?: Status } = {}) {
    this.cfg = opts.cfg ?? loadGlobalConfig();
    this.progress = opts.progress ?? (() => {});
    this.status = opts.status ?? (() => {});
    this.warn = opts.warn ?? ((msg) => fs.writeSync(2, `vzkit: warning: ${msg}\n`));
  }

  /** The state db; `create` makes the node's directories on first use. */
  db(): StateDb {
    if (this.dbHandle) return this.dbHandle;
    ensureNodeDirs(this.cfg);
    if (this.readHandle && !this.readHandle.readonly) {
      this.dbHandle = this.readHandle; // root's reading handle can write too
      return this.dbHandle;
    }
    return (this.dbHandle = StateDb.open(this.cfg.paths.db));
  }

  /**
   * For reading (status, list, name lookups): never creates anything on a node that has no state
   * yet, and works for a user who may read the database but not write it.
   */
  dbIfExists(): StateDb | undefined {
    if (this.dbHandle) return this.dbHandle;
    if (this.readHandle) return this.readHandle;
    if (!fs.existsSync(this.cfg.paths.db)) return undefined;
    return (this.readHandle = StateDb.open(this.cfg.paths.db, { readonly: process.getuid?.() !== 0 }));
  }

  paths(ctid: number): CtPaths {
    return ctPaths(this.cfg, ctid);
  }

  cgroup(ctid: number): CgroupManager {
    return createCgroupManager({ node: this.cfg.node, ctid });
  }

  /** The storage driver of a container: its `layout` parameter (dir when none is stored). */
  storage(ctid: number): StorageDriver {
    const layout = this.dbIfExists()?.getParams(ctid).layout as string | undefined;
    return getStorageDriver(layout ?? 'dir');
  }

  target(ctid: number): StorageTarget {
    const p = this.paths(ctid);
    return { ctid, privatePath: p.private, mountPath: p.mount };
  }

  close(): void {
    this.dbHandle?.close();
    if (this.readHandle !== this.dbHandle) this.readHandle?.close();
    this.dbHandle = this.readHandle = undefined;
  }
}

/** root is traversable (0711) because the container's root uid must reach its mount point. */
export function ensureNodeDirs(cfg: GlobalConfig): void {
  const p = cfg.paths;
  fs.mkdirSync(cfg.root, { recursive: true, mode: 0o711 });
  fs.chmodSync(cfg.root, 0o711);
  for (const [dir, mode] of [
    [p.private, 0o700],
    [p.mounts, 0o711],
    [p.run, 0o700],
    [p.locks, 0o700],
    [p.logs, 0o700],
    [p.cache, 0o700],
  ] as const) {
    fs.mkdirSync(dir, { recursive: true, mode });
  }
}
