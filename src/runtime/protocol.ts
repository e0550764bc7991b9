/**
 * Node's side of the ctspawn control protocol; native/protocol.h is the reference and this file
 * mirrors it. Newline-delimited JSON on fd 3; each side rejects a message that does not fit the
 * current stage.
 */
export const Stage = {
  CONFIG: 1,
  SPAWNED: 2,
  CGROUP: 3,
  SETUP: 4,
  RUNNING: 5,
  DETACH: 6,
  MONITOR: 7,
} as const;

export const STAGE_NAMES: Record<number, string> = {
  1: 'config',
  2: 'spawn (namespaces, id maps)',
  3: 'cgroups',
  4: 'container setup (mounts, /dev, pivot_root, hostname)',
  5: 'exec of init',
  6: 'detach',
  7: 'monitor',
};

export const EXIT_HELPER_FAILED = 125;
/** `ctspawn exec --timeout` expired and the command was killed (as timeout(1)). */
export const EXIT_TIMED_OUT = 124;

export interface SpawnConfig {
  rootfs: string;
  hostname: string;
  uid_map: string;
  gid_map: string;
  init: string[];
  env: string[];
  console_log: string;
  socket: string;
  pidfile: string;
  statusfile: string;
  rmdirs: string[];
  umounts: string[];
  /** argv of a host command the monitor runs after init has ended (network cleanup). */
  poststop?: string[];
  /** Host files bind-mounted over the same-index path inside the container (LXCFS). */
  bind_src?: string[];
  bind_dst?: string[];
  /** Device nodes (names under /dev) bind-mounted from devnode_dir/NAME into the container's /dev. */
  devnodes?: string[];
  devnode_dir?: string;
  /** Size of the container's /dev/shm in bytes (decimal); absent: the kernel's default (half the host's RAM). */
  shm_size?: string;
  /** Intercept sysinfo(2): the container's memory cgroup dir on the host, and its cgroup version. */
  sysinfo_memcg?: string;
  sysinfo_cgver?: 1 | 2;
  /** Where the monitor writes the container's load averages every 5 s (with sysinfo_memcg). */
  loadavg_file?: string;
  /** "cgroup2": the container's own cgroup2 view on /sys/fs/cgroup (systemd). */
  cgroup_mount?: 'cgroup2';
  /** /proc/pressure shown read-only (with cgroup_mount): systemd watches memory pressure; else hidden. */
  pressure?: boolean;
  /** What the monitor runs after a reboot from inside (init killed by SIGHUP). */
  on_reboot?: string[];
  /** Capability numbers (as strings) dropped from init's bounding set. */
  cap_drop?: string[];
  /** Namespaces CRIU cannot dump are allowed inside (feature nesting); default: refused (native/harden.h). */
  nesting?: boolean;
  /** Kinds allowed without nesting: this node's CRIU dumps them nested ("uts", "ipc"; native/harden.h). */
  ns_allow?: string[];
  /** restore only: the criu binary, its arguments after "restore", the dumped console's key. */
  criu?: string;
  criu_args?: string[];
  console_key?: string;
  tty_gid: number;
  root_uid: number;
  root_gid: number;
  debug?: boolean;
}

export type HelperMessage =
  | { t: 'spawned'; pid: number }
  | { t: 'running'; pid: number }
  | { t: 'error'; stage: number; errno: number; msg: string }
  | { t: 'log'; msg: string };

export type NodeMessage = ({ t: 'config' } & SpawnConfig) | { t: 'go' } | { t: 'detach' };

export function encode(msg: NodeMessage): string {
  return JSON.stringify(msg) + '\n';
}

/** Parses one line from the helper; throws on anything that is not a known, well-formed message. */
export function decode(line: string): HelperMessage {
  let m: unknown;
  try {
    m = JSON.parse(line);
  } catch {
    throw new ProtocolError(`malformed message from helper: ${line.slice(0, 200)}`);
  }
  const o = m as Record<string, unknown>;
  const int = (k: string) => typeof o[k] === 'number' && Number.isInteger(o[k]);
  switch (o?.t) {
    case 'spawned':
    case 'running':
      if (int('pid') && (o.pid as number) > 0) return o as HelperMessage;
      break;
    case 'error':
      if (int('stage') && int('errno') && typeof o.msg === 'string') return o as HelperMessage;
      break;
    case 'log':
      if (typeof o.msg === 'string') return o as HelperMessage;
      break;
  }
  throw new ProtocolError(`unexpected message from helper: ${line.slice(0, 200)}`);
}

export class ProtocolError extends Error {}

/** Splits a byte stream into lines; tolerant of chunk boundaries anywhere. */
export class LineSplitter {
  private buf = '';
  push(chunk: string): string[] {
    this.buf += chunk;
    const lines = this.buf.split('\n');
    this.buf = lines.pop() ?? '';
    if (this.buf.length > 65536) throw new ProtocolError('helper message too long');
    return lines.filter((l) => l.length > 0);
  }
}
