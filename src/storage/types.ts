/**
 * A storage driver owns a container's private area (its files at rest) and how it is mounted at
 * the container's root mount point. Callers branch on `caps`, never on a driver's name
 * (Incus's storage drivers are the model).
 */
export interface StorageCaps {
  quota: boolean; // setQuota/usage enforce a disk limit
  snapshot: boolean;
  send: boolean; // can stream a private area to another node
}

export interface StorageTarget {
  ctid: number;
  privatePath: string; // the private area (a directory, or an image file for image drivers)
  mountPath: string; // where the root file system is mounted on the host (vzctl's VE_ROOT)
}

export interface DiskUsage {
  bytes: number;
  inodes: number;
}

export interface StorageDriver {
  readonly name: string;
  readonly caps: StorageCaps;
  /** Creates the private area and fills it through `populate(dir)`; nothing is left on failure. */
  create(t: StorageTarget, populate: (dir: string) => void): void;
  destroy(t: StorageTarget): void;
  exists(t: StorageTarget): boolean;
  mount(t: StorageTarget): void;
  unmount(t: StorageTarget): void;
  isMounted(t: StorageTarget): boolean;
  usage(t: StorageTarget): DiskUsage;
}
