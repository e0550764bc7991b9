/**
 * The node-wide config (/etc/vzkit/vzkit.yaml, or $VZKIT_CONFIG). Every key is optional;
 * a missing default file means all defaults, a missing file named explicitly is an error.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../base/package-root.js';
import { VzError } from '../base/errors.js';
import { configError, readFields } from './fields.js';
import { paramByKey } from './params.js';
import { toInt, toMapping, toStr, toStringList } from './values.js';
import { loadYamlFile } from './yamlfile.js';
import type { YamlDoc } from './yamlfile.js';
import type { NeighbourDevs } from '../net/neighbour.js';
import { checkIfname } from '../net/ifname.js';

export const DEFAULT_CONFIG_FILE = '/etc/vzkit/vzkit.yaml';

export interface IdmapPool {
  base: number; // first host uid/gid of the pool
  size: number; // ids per slot (a container's whole uid range)
  count: number; // number of slots
}

export interface GlobalConfig {
  file: string | null; // the file read; null when none existed (all defaults)
  root: string;
  node: string;
  idmap: IdmapPool;
  stop_timeout: number;
  templates_dir: string;
  /** Host devices that answer ARP/NDP for routed addresses (vzctl's NEIGHBOUR_DEVS). */
  neighbour_devs: NeighbourDevs;
  /** Answer sysinfo(2) from the memory cgroup (a seccomp listener in the monitor). A restore takes
   * the listeners back (vzkit's CRIU, criu-patches/0002), so it does not stand in the way of
   * suspend or live migration. */
  sysinfo_intercept: boolean;
  paths: {
    db: string;
    private: string; // container private areas
    mounts: string; // mount points, vzctl's VE_ROOT
    run: string;
    locks: string;
    logs: string;
    cache: string; // template caches
    dumps: string; // CRIU images
    /** The key vzdump authenticates archives with (backup_key; nodes that trust each other's backups share it). */
    backupKey: string;
  };
}

/**
 * The shipped templates/ folder. The code runs bundled as dist/*.cjs, so it is found from the
 * entry script (realpath'd, so a /usr/local/bin symlink still works), not from this module.
 */
export function defaultTemplatesDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VZKIT_TEMPLATES) return path.resolve(env.VZKIT_TEMPLATES);
  return path.join(packageRoot(), 'templates');
}

const DEFAULTS = {
  root: '/var/lib/vzkit',
  node: 'vz',
  idmap: { base: 200000, size: 65536, count: 1024 },
  stop_timeout: 60,
};

const UID_LIMIT = 2 ** 32 - 1; // (uid_t)-1 means "no change" to the kernel, so the pool must end below it

function absPath(key: string) {
  return (raw: unknown): string => {
    const s = toStr(raw, key);
    if (!path.isAbsolute(s)) throw new VzError('INVALID', `"${key}" must be an absolute path, got ${JSON.stringify(s)}`);
    return path.normalize(s).replace(/(.)\/+$/, '$1');
  };
}

export function parseNode(raw: unknown): string {
  const s = toStr(raw, 'node');
  // It prefixes cgroup and host interface names, and IFNAMSIZ (16) leaves little room.
  if (!/^[a-z][a-z0-9]{0,7}$/.test(s)) {
    throw new VzError('INVALID', `"node" must be 1-8 characters of a-z0-9 starting with a letter, got ${JSON.stringify(s)}`);
  }
  return s;
}

function readIdmap(doc: YamlDoc, raw: unknown): IdmapPool {
  const got = readFields(doc, toMapping(raw, 'idmap'), {
    base: (v) => toInt(v, 'idmap.base', { min: 65536, max: UID_LIMIT - 1 }),
    size: (v) => toInt(v, 'idmap.size', { min: 1, max: UID_LIMIT }),
    count: (v) => toInt(v, 'idmap.count', { min: 1, max: UID_LIMIT }),
  }, 'idmap');
  const pool = { ...DEFAULTS.idmap, ...got } as IdmapPool;
  const end = pool.base + pool.size * pool.count; // one past the last id
  if (end > UID_LIMIT) {
    throw configError(doc, 'idmap', `idmap pool ${pool.base} + ${pool.size} x ${pool.count} ends at ${end - 1}, past the last valid id ${UID_LIMIT - 1}`);
  }
  return pool;
}

function parseNeighbourDevs(raw: unknown): NeighbourDevs {
  if (raw === 'detect' || raw === 'none') return raw;
  return toStringList(raw, 'neighbour_devs').map((d) => checkIfname(d, 'neighbour_devs device'));
}

export function loadGlobalConfig(env: NodeJS.ProcessEnv = process.env): GlobalConfig {
  const explicit = env.VZKIT_CONFIG || undefined;
  const file = explicit ?? DEFAULT_CONFIG_FILE;
  const found = explicit !== undefined || existsSync(file);
  let raw: Record<string, unknown> = {};
  if (found) {
    const doc = loadYamlFile(file, { missing: 'NOCONFIG' });
    raw = readFields(doc, doc.data, {
      root: absPath('root'),
      node: parseNode,
      idmap: (v) => readIdmap(doc, v),
      stop_timeout: (v) => paramByKey('stop_timeout')!.parse(v),
      templates_dir: absPath('templates_dir'),
      template_cache: absPath('template_cache'),
      backup_key: absPath('backup_key'),
      neighbour_devs: parseNeighbourDevs,
      sysinfo_intercept: (v) => {
        if (typeof v !== 'boolean') throw new VzError('INVALID_CONFIG', `${file}: sysinfo_intercept must be true or false`);
        return v;
      },
    });
  }
  const root = (raw.root as string | undefined) ?? DEFAULTS.root;
  return {
    file: found ? file : null,
    root,
    node: (raw.node as string | undefined) ?? DEFAULTS.node,
    idmap: (raw.idmap as IdmapPool | undefined) ?? { ...DEFAULTS.idmap },
    stop_timeout: (raw.stop_timeout as number | undefined) ?? DEFAULTS.stop_timeout,
    templates_dir: (raw.templates_dir as string | undefined) ?? defaultTemplatesDir(env),
    neighbour_devs: (raw.neighbour_devs as NeighbourDevs | undefined) ?? 'detect',
    sysinfo_intercept: (raw.sysinfo_intercept as boolean | undefined) ?? true,
    paths: {
      db: path.join(root, 'vzkit.db'),
      private: path.join(root, 'private'),
      mounts: path.join(root, 'root'),
      run: path.join(root, 'run'),
      locks: path.join(root, 'lock'),
      logs: path.join(root, 'log'),
      // Shareable by several nodes (the tests share one Debian cache between their roots).
      cache: (raw.template_cache as string | undefined) ?? path.join(root, 'cache'),
      dumps: path.join(root, 'dump'),
      // Shareable too: nodes that point it at one key trust each other's archives.
      backupKey: (raw.backup_key as string | undefined) ?? path.join(root, 'backup.key'),
    },
  };
}
