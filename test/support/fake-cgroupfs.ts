/**
 * Fake cgroupfs trees for unit tests: plain directories and files with kernel-like content.
 * The managers treat a root without cgroup mounts as fake: a new cgroup dir gets the parent's
 * control file names (empty, like a fresh kernel cgroup), and rmdir unlinks the files first.
 * Unlike the kernel, fake roots carry files that real roots lack (freezer.state, pids.max...),
 * because children only get what their parent has.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach } from 'vitest';
import { emulateCgroupfs, observeWrites, readText } from '../../src/cgroup/cgfs.js';

/**
 * What the kernel does in a cgroupfs, done by hand in a fake tree: a new cgroup gets the parent's
 * control files (empty) and a cgroup.controllers listing what the parent enabled in
 * cgroup.subtree_control; before rmdir, the plain files go.
 */
emulateCgroupfs({
  created(dir) {
    const parent = dirname(dir);
    for (const f of readdirSync(parent, { withFileTypes: true })) {
      if (f.isFile()) writeFileSync(join(dir, f.name), '');
    }
    const enabled = (readText(join(parent, 'cgroup.subtree_control')) ?? '').split(/\s+/).filter((c) => c && !c.startsWith('-'));
    if (readText(join(parent, 'cgroup.controllers')) !== undefined) {
      writeFileSync(join(dir, 'cgroup.controllers'), enabled.map((c) => c.replace(/^\+/, '')).join(' '));
    }
  },
  removing(dir) {
    for (const f of readdirSync(dir, { withFileTypes: true })) if (!f.isDirectory()) unlinkSync(join(dir, f.name));
  },
});

export const UNLIMITED_V1 = '9223372036854771712';

const roots: string[] = [];

afterEach(() => {
  observeWrites(undefined);
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'vzkit-cg-'));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, content);
  }
  return root;
}

const common = (h: string): Record<string, string> => ({
  [`${h}/cgroup.procs`]: '',
  [`${h}/tasks`]: '',
  [`${h}/notify_on_release`]: '0',
  [`${h}/cgroup.clone_children`]: '0',
});

export const MEMORY_STAT_V1 = [
  'cache 1000', 'rss 2000', 'swap 0', 'total_cache 4096', 'total_rss 8192', 'total_swap 0', 'hierarchical_memory_limit 9223372036854771712', '',
].join('\n');

/** A hybrid-host lookalike: v1 controllers, name=systemd and a controller-less unified mount. */
export function fakeV1(opts: { without?: string[] } = {}): string {
  const h: Record<string, Record<string, string>> = {
    cpu: { 'cpu.shares': '1024', 'cpu.cfs_quota_us': '-1', 'cpu.cfs_period_us': '100000', 'cpu.stat': 'nr_periods 0\n' },
    cpuacct: { 'cpuacct.usage': '0' },
    cpuset: { 'cpuset.cpus': '0-1\n', 'cpuset.mems': '0\n', 'cpuset.cpu_exclusive': '0' },
    memory: {
      'memory.limit_in_bytes': UNLIMITED_V1, 'memory.memsw.limit_in_bytes': UNLIMITED_V1, 'memory.usage_in_bytes': '0',
      'memory.memsw.usage_in_bytes': '0', 'memory.stat': MEMORY_STAT_V1, 'memory.failcnt': '0', 'memory.use_hierarchy': '1',
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
    },
    devices: { 'devices.allow': '', 'devices.deny': '', 'devices.list': 'a *:* rwm\n' },
    freezer: { 'freezer.state': 'THAWED\n' },
    blkio: {
      'blkio.throttle.read_bps_device': '', 'blkio.throttle.write_bps_device': '',
      'blkio.throttle.read_iops_device': '', 'blkio.throttle.write_iops_device': '',
    },
    pids: { 'pids.max': 'max', 'pids.current': '0', 'pids.events': 'max 0\n' },
    systemd: {},
    unified: { 'cgroup.controllers': '', 'cgroup.subtree_control': '', 'cgroup.events': 'populated 0\nfrozen 0\n' },
  };
  const files: Record<string, string> = {};
  for (const [name, own] of Object.entries(h)) {
    if (opts.without?.includes(name)) continue;
    Object.assign(files, common(name));
    for (const [f, c] of Object.entries(own)) files[`${name}/${f}`] = c;
  }
  return tree(files);
}

/** A unified-host lookalike (root of a cgroup2 mount). */
export function fakeV2(opts: { controllers?: string; kill?: boolean } = {}): string {
  const files: Record<string, string> = {
    'cgroup.controllers': opts.controllers ?? 'cpuset cpu io memory hugetlb pids rdma misc\n',
    'cgroup.subtree_control': '',
    'cgroup.procs': '',
    'cgroup.events': 'populated 0\nfrozen 0\n',
    'cgroup.freeze': '0',
    'memory.max': 'max', 'memory.swap.max': 'max', 'memory.current': '0', 'memory.swap.current': '0',
    'memory.stat': 'anon 0\nfile 0\n', 'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
    'cpu.weight': '100', 'cpu.max': 'max 100000', 'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n',
    'cpuset.cpus': '', 'cpuset.cpus.effective': '0-1',
    'pids.max': 'max', 'pids.current': '0', 'pids.events': 'max 0\n',
    'io.max': '',
  };
  if (opts.kill !== false) files['cgroup.kill'] = '';
  return tree(files);
}

export const read = (root: string, path: string): string => readFileSync(join(root, path), 'utf8');
export const put = (root: string, path: string, content: string): void => writeFileSync(join(root, path), content);
export const has = (root: string, path: string): boolean => existsSync(join(root, path));

/** Records every write the managers make, as [path relative to root, value]. */
export function recordWrites(root: string): [string, string][] {
  const log: [string, string][] = [];
  observeWrites((file, value) => log.push([file.slice(root.length + 1), value]));
  return log;
}
