/**
 * The template cache: each OS template is built once into root/cache/NAME and copied (with its
 * ownership shifted) into every new container's private area.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { childProcess } from '../sys/childproc.js';
import { lockFile } from '../sys/lock.js';
import { VzError, systemError } from '../base/errors.js';
import { buildBusybox } from './busybox.js';
import { buildDebootstrap, type BuildStatus } from './debootstrap.js';
import type { BuildSpec, DebootstrapSpec } from '../config/templates.js';
import { mountsUnder, umount } from '../sys/mounts.js';

export interface TemplateBuildSpec {
  name: string;
  build: BuildSpec;
}

type Builder = (dest: string, spec: TemplateBuildSpec, cacheDir: string, status: BuildStatus) => void | Promise<void>;

const BUILDERS: Record<string, Builder> = {
  busybox: (dest) => buildBusybox(dest),
  // Downloaded packages are kept beside the caches: a rebuild (or another suite) reuses them.
  debootstrap: (dest, spec, cacheDir, status) => buildDebootstrap(dest, spec.build as DebootstrapSpec, path.join(cacheDir, '.debs'), status),
};

/**
 * The build spec's fingerprint, kept in the cache's completion mark: a cache built from another
 * version of the template's build section is stale and is built again.
 */
export function specHash(build: BuildSpec): string {
  return crypto.createHash('sha256').update(JSON.stringify(build)).digest('hex').slice(0, 16);
}

function completion(cacheDir: string, name: string): { builtAt: string; hash?: string } | undefined {
  try {
    const [builtAt, hash] = fs.readFileSync(path.join(cacheDir, name, '.vzkit-complete'), 'utf8').trim().split('\n');
    return { builtAt: builtAt!, hash };
  } catch {
    return undefined;
  }
}

/** Whether the template's cache is built, complete and from this build spec. */
export function isTemplateCached(cacheDir: string, spec: TemplateBuildSpec): boolean {
  return completion(cacheDir, spec.name)?.hash === specHash(spec.build);
}

/** Removes a tree that a killed build or create left, never crossing into a mount inside it. */
export function removeTree(dir: string): void {
  for (const m of mountsUnder(dir)) umount(m, true);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Returns the cached tree for the template, building it first when missing. */
export async function ensureTemplateCache(
  cacheDir: string,
  spec: TemplateBuildSpec,
  status: BuildStatus = () => {},
  opts: { rebuild?: boolean } = {},
): Promise<string> {
  const dest = path.join(cacheDir, spec.name);
  if (!opts.rebuild && isTemplateCached(cacheDir, spec)) return dest;
  const builder = BUILDERS[spec.build.type];
  if (!builder) throw new VzError('BAD_TEMPLATE', `template ${spec.name}: unknown build type "${spec.build.type}"`);
  fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const lock = lockFile(path.join(cacheDir, `${spec.name}.lck`), { waitMs: 600_000, what: `template ${spec.name}` });
  try {
    if (!opts.rebuild && isTemplateCached(cacheDir, spec)) return dest; // built while we waited
    const tmp = `${dest}.building`;
    const old = `${dest}.old`;
    removeTree(tmp);
    removeTree(old);
    // A rebuild keeps the old tree usable until the new one is complete.
    if (!fs.existsSync(path.join(dest, '.vzkit-complete'))) removeTree(dest);
    fs.mkdirSync(tmp, { mode: 0o755 });
    try {
      await builder(tmp, spec, cacheDir, status);
      fs.writeFileSync(path.join(tmp, '.vzkit-complete'), `${new Date().toISOString()}\n${specHash(spec.build)}\n`);
      if (fs.existsSync(dest)) fs.renameSync(dest, old);
      fs.renameSync(tmp, dest);
      removeTree(old);
    } catch (e) {
      removeTree(tmp);
      if (e instanceof VzError) throw e;
      throw systemError(`cannot build template ${spec.name}`, e, { code: 'BAD_TEMPLATE' });
    }
    return dest;
  } finally {
    lock.release();
  }
}

/** Copies a cached template tree into `dest` (which exists and is empty). */
export function copyTemplate(src: string, dest: string): void {
  // cp keeps hard links, sparse files, xattrs and special files, which fs.cp does not all do.
  // setpriv: cp dies with vzctl, so a killed create never has a copy still writing into the
  // directory the next create removes.
  const r = childProcess().spawnSync('setpriv', ['--pdeathsig', 'KILL', 'cp', '-a', '--reflink=auto', `${src}/.`, dest], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()!;
    const full = /No space left|Disk quota exceeded/.test(why);
    throw new VzError(full ? 'NO_SPACE' : 'NEW_PRIVATE', `cannot copy the template into ${dest}: ${why.replace(/^cp: /, '')}`);
  }
  fs.rmSync(path.join(dest, '.vzkit-complete'), { force: true });
}

export interface CacheInfo {
  cached: boolean;
  /** Built from another version of the template: the next create or build makes it again. */
  stale: boolean;
  /** When the cache was completed (ISO time), if it is. */
  builtAt?: string;
}

export function templateCacheInfo(cacheDir: string, spec: TemplateBuildSpec): CacheInfo {
  const c = completion(cacheDir, spec.name);
  if (!c) return { cached: false, stale: false };
  const fresh = c.hash === specHash(spec.build);
  return { cached: fresh, stale: !fresh, builtAt: c.builtAt };
}

/** Removes a template's cache (containers made from it keep their own copies). */
export function removeTemplateCache(cacheDir: string, name: string): boolean {
  const dest = path.join(cacheDir, name);
  const had = fs.existsSync(dest);
  const lock = lockFile(path.join(cacheDir, `${name}.lck`), { waitMs: 600_000, what: `template ${name}` });
  try {
    removeTree(dest);
    removeTree(`${dest}.building`);
  } finally {
    lock.release();
  }
  return had;
}
