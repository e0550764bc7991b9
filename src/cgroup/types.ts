/**
 * Resource limits in cgroup v2 semantics (bytes, weights, max quotas). The v1 manager converts.
 * `undefined` means "leave as is"; `null` means "unlimited".
 */
export interface ResourceLimits {
  memoryMax?: number | null; // bytes (RAM)
  memorySwapMax?: number | null; // bytes of swap on top of memoryMax (vSwap: RAM+swap = memoryMax+memorySwapMax)
  cpuWeight?: number; // 1..10000 (v2 cpu.weight)
  cpuMax?: { quotaUs: number; periodUs: number } | null; // null = unlimited
  cpus?: string; // cpuset list, e.g. "0-1"
  pidsMax?: number | null;
  io?: IoLimit[];
  /**
   * Device access rules, applied in order (v1 devices.allow/deny). Extension to the original
   * interface. v1 adds them to the cgroup's current list; v2 compiles the list, evaluated from
   * "deny all", into a BPF device program that replaces the previous one (pass the full list).
   */
  devices?: DeviceRule[];
}

/** One devices-cgroup rule: "c 1:3 rwm" allowed or denied; '*' is any major/minor. */
export interface DeviceRule {
  allow: boolean;
  type: 'a' | 'b' | 'c';
  major: number | '*';
  minor: number | '*';
  access: string; // subset of "rwm"
}

export interface IoLimit {
  major: number;
  minor: number;
  rbps?: number | null;
  wbps?: number | null;
  riops?: number | null;
  wiops?: number | null;
}

export interface CgroupStats {
  memoryCurrent: number; // bytes charged, including page cache
  memoryCache?: number; // page cache part, where the kernel tells
  swapCurrent?: number;
  memoryFailcnt?: number; // how often the memory limit was hit (v1 failcnt, v2 memory.events max)
  oomKills?: number;
  pidsCurrent: number;
  pidsFailcnt?: number; // v1/v2 pids.events max
  cpuUsageUs: number; // total CPU time consumed
}

/** The interface every cgroup version implements; one instance per container. */
export interface CgroupManager {
  readonly version: 1 | 2;
  /** Creates the container's cgroup(s); idempotent. */
  create(): void;
  /** Hands the container's cgroup(s) to its root (uid/gid on the host) to manage its own subtree. */
  delegate(uid: number, gid: number): void;
  /** The container's memory cgroup directory, when the memory controller is there (sysinfo(2) answers). */
  memoryDir(): string | undefined;
  /** The container's cgroup2 directory (v2, or the controller-less unified mount of a hybrid v1
   * host): what the container sees as /sys/fs/cgroup and where a systemd inside keeps its units. */
  unifiedDir(): string | undefined;
  /** Moves a host pid into the container's cgroup(s). */
  addProcess(pid: number): void;
  /** Moves a host pid into a (new) leaf below the container's cgroup2 directory (v2: the container's
   * own cgroup may enable controllers for children, and then holds no task); v1: addProcess. */
  addProcessBelow(pid: number, leaf: string): void;
  /** Removes such a leaf (best effort: a leaf still in use stays until destroy). */
  removeBelow(leaf: string): void;
  /** The cgroup.procs files a helper writes its own pid into to join (exec/enter). */
  /** cgroup.procs files that exec/enter join: init's own cgroup on cgroup2 (see join.ts), given its pid. */
  procsFiles(initPid?: number): string[];
  /** Directories, deepest first, that must be removed after the container stops. */
  dirs(): string[];
  apply(limits: ResourceLimits): void;
  freeze(): void;
  thaw(): void;
  /** The file and value that thaw the container: what a guard process writes if its owner dies frozen. */
  thawWrite(): { file: string; value: string };
  stats(): CgroupStats;
  /** Host pids in the container's cgroup. */
  pids(): number[];
  exists(): boolean;
  /** Kills whatever is left and removes the cgroup(s); idempotent. */
  destroy(): void;
}
