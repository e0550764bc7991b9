/**
 * A storage driver owns a container's private area (its files at rest) and how it is mounted at
 * the container's root mount point. Callers branch on `caps`, never on a driver's name
 * (Incus's storage drivers are the model).
 */
export interface StorageCaps {
  /** setLimits() enforces soft and hard block and inode limits with a grace period, live (dir: project quotas). */
  quota: boolean;
  snapshot: boolean;
  send: boolean; // can stream a private area to another node
  /** resize() changes the private area's size limit (grows online; shrinks only when unmounted). */
  resize?: boolean;
  /** compact() gives the private area's unused blocks back to the host file system. */
  compact?: boolean;
  /** The private area is the container's file tree itself, owners as the container has them
   * (dir); an image holds them inside a file (a migration maps a tree's owners on the way). */
  tree?: boolean;
}

export interface CreateOptions {
  /** Size limit of a new private area, for drivers whose limit is fixed at creation (image). */
  sizeBytes?: number;
  /** Inode limit, for drivers whose inode count is fixed at creation (image: mkfs -N). */
  inodes?: number;
  /** Limits of a quota driver, in force from the start: every inode populate() makes counts. */
  limits?: DiskLimits;
}

export interface CompactResult {
  /** Host disk space taken by the private area before and after (allocated blocks × 512). */
  bytesBefore: number;
  bytesAfter: number;
  /** bytesBefore − bytesAfter (never negative). */
  bytesFreed: number;
}

export interface StorageTarget {
  ctid: number;
  privatePath: string; // the private area: always a directory (the image driver keeps root.img in it)
  mountPath: string; // where the root file system is mounted on the host (vzctl's VE_ROOT)
}

/** null = unlimited. */
export interface SoftHardLimit {
  soft: number | null;
  hard: number | null;
}

export interface DiskLimits {
  /** Bytes. */
  space: SoftHardLimit;
  inodes: SoftHardLimit;
  /** How long usage may stay above a soft limit, in seconds (undefined: leave as it is). */
  graceSeconds?: number;
}

export interface DiskUsage {
  bytes: number;
  inodes: number;
  /** The limit, where the driver has one (image: the file system's size and inode count). */
  limitBytes?: number;
  limitInodes?: number;
  /** The limits in force, as the kernel reports them (quota drivers). */
  limits?: DiskLimits;
  /** Unix seconds at which the soft-limit grace ends, while usage is above the soft limit. */
  bytesGraceExpires?: number;
  inodesGraceExpires?: number;
}

export interface StorageDriver {
  readonly name: string;
  readonly caps: StorageCaps;
  /** Creates the private area and fills it through `populate(dir)`; nothing is left on failure. */
  create(t: StorageTarget, populate: (dir: string) => void, opts?: CreateOptions): void;
  destroy(t: StorageTarget): void;
  exists(t: StorageTarget): boolean;
  mount(t: StorageTarget): void;
  unmount(t: StorageTarget): void;
  isMounted(t: StorageTarget): boolean;
  /**
   * Makes the private area's files on the host current while it is mounted and its processes are
   * stopped, so a copy of them is consistent (image: syncfs). Drivers whose files are the live
   * ones (dir) have none.
   */
  flush?(t: StorageTarget): void;
  usage(t: StorageTarget): DiskUsage;
  /**
   * For drivers whose private area is a file system image (image): the create options that make
   * an empty one of the same shape (size, inode count). An online migration makes one on DEST,
   * mounts it and copies the mounted tree into it, so that its final copy while frozen moves only
   * the files that changed, not the whole image.
   */
  geometry?(t: StorageTarget): Required<Pick<CreateOptions, 'sizeBytes' | 'inodes'>>;
  /** Why limits cannot be enforced for this private area on this node; undefined when they can (caps.quota). */
  limitSupport?(t: StorageTarget): string | undefined;
  /** Sets all limits at once, also while the container runs (only when caps.quota). */
  setLimits?(t: StorageTarget, limits: DiskLimits): void;
  /** Sets the size limit to `bytes` (only when caps.resize). */
  resize?(t: StorageTarget, bytes: number): void;
  /** Returns unused blocks to the host (only when caps.compact). */
  compact?(t: StorageTarget): CompactResult;
}
