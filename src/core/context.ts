/**
 * What every operation needs: the global config, the state database (opened on first use),
 * per-container cgroup managers and the storage driver.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadGlobalConfig, type GlobalConfig } from '../config/global.js';
import { StateDb } from '../state/db.js';
import { createCgroupManager } from '../cgroup/index.js';
import type { CgroupManager } from '../cgroup/types.js';
import { getStorageDriver, type StorageDriver, type StorageTarget } from '../storage/index.js';
import { ctPaths, type CtPaths } from './paths.js';
import { closeGates } from './reach.js';
import { readStored } from './stored.js';

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
    ensureNodeDirs(this.cfg, this.warn);
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
    const db = this.dbIfExists();
    return getStorageDriver((db ? readStored(db, ctid).params.layout : undefined) ?? 'dir');
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

/**
 * The node's directories, root-only: root is traversable (0711) because the container's root uid
 * must reach its mount point, through ROOT/root, which is a gate (0700 plus a search-only ACL entry
 * per container root uid: see reach.ts). Modes of a node made by an older vzkit are fixed here.
 */
export function ensureNodeDirs(cfg: GlobalConfig, warn?: (msg: string) => void): void {
  const p = cfg.paths;
  fs.mkdirSync(cfg.root, { recursive: true, mode: 0o711 });
  fs.chmodSync(cfg.root, 0o711);
  for (const [dir, mode] of [
    [p.private, 0o700],
    [p.mounts, 0o700],
    [p.run, 0o700],
    [p.locks, 0o700],
    [p.logs, 0o700],
    [p.cache, 0o700],
    [p.dumps, 0o700],
  ] as const) {
    fs.mkdirSync(dir, { recursive: true, mode });
  }
  // Older nodes: these were made 0711 or 0755 (the gates keep their ACL entries).
  for (const dir of [p.private, p.run, p.locks, p.logs, path.join(cfg.root, 'backup')]) chmodIfOpen(dir, 0o700);
  chmodIfOpen(path.join(cfg.root, 'dev'), 0o711);
  closeGates(cfg, warn);
}

function chmodIfOpen(dir: string, mode: number): void {
  try {
    if ((fs.statSync(dir).mode & 0o7777) !== mode) fs.chmodSync(dir, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
