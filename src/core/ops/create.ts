/** vzctl create: a new private area from a cached OS template, and the container's record. */
import fs from 'node:fs';
import type { Context } from '../context.js';
import { withLock } from '../lock.js';
import { withRevert } from '../reverter.js';
import { VzError } from '../../base/errors.js';
import { loadOsTemplate, loadProfile, templateInternals } from '../../config/templates.js';
import { parseParams, type ParamValues, type RawParams } from '../../config/params.js';
import { ensureTemplateCache, copyTemplate, isTemplateCached } from '../../template/cache.js';
import { shiftTree } from '../../sys/idshift.js';
import { writeFileInRoot } from '../../sys/rootwrite.js';
import type { ContainerRow } from '../../state/types.js';
import { getStorageDriver } from '../../storage/index.js';
import { checkDiskLimits, createLimits, diskLimitBytes, diskParams } from '../disk.js';
import { cleanupRuntime } from '../cleanup.js';
import { crashPoint } from '../../base/inject.js';
import { netConfigForCreate } from '../apply-net.js';
import { devnodeRules } from '../apply-limits.js';
import { allAddresses } from '../../net/config.js';

export interface CreateRequest {
  ctid: number;
  ostemplate: string;
  profile?: string;
  /** Raw values from the command line, validated here against the parameter table. */
  params: RawParams;
}

/** The resource limits a new container got (bytes, percent, counts; null = unlimited), for create's output. */
export interface CreatedLimits {
  ram: number | null;
  swap: number | null;
  cpus: number | null;
  cpulimit: number | null;
  cpuunits: number;
  numproc: number | null;
  diskspace: number | null;
}

/** The limits without which a container can take the whole host: create warns when one is missing. */
const HOST_WIDE: Array<[keyof CreatedLimits, string]> = [
  ['ram', 'memory'],
  ['numproc', 'processes (up to the host pid_max)'],
  ['cpulimit', 'CPU time'],
];

export function createdLimits(params: ParamValues): CreatedLimits {
  const ram = params.ram ?? null;
  const disk = params.diskspace;
  return {
    ram,
    // vSwap: with a RAM limit and no swap given there is none; without a RAM limit swap is not limited.
    swap: ram === null ? null : (params.swap ?? 0),
    cpus: params.cpus ?? null,
    cpulimit: params.cpulimit ?? null,
    cpuunits: params.cpuunits ?? 1000,
    numproc: params.numproc ?? null,
    diskspace: disk?.hard ?? disk?.soft ?? null,
  };
}

export async function createContainer(ctx: Context, req: CreateRequest): Promise<ContainerRow & { limits: CreatedLimits }> {
  const { ctid } = req;
  const tmpl = loadOsTemplate(ctx.cfg.templates_dir, req.ostemplate);
  // Like vzctl's CONFIGFILE: the "default" profile applies when none is named (if it exists).
  const profileName = req.profile ?? (fs.existsSync(`${ctx.cfg.templates_dir}/profiles/default.yaml`) ? 'default' : undefined);
  const profile = profileName ? loadProfile(ctx.cfg.templates_dir, profileName) : undefined;
  const cli = parseParams(req.params, 'create');
  const params: ParamValues = { ...tmpl.defaults, ...(profile?.params ?? {}), ...cli };
  if (params.stop_timeout === undefined && tmpl.stop_timeout !== undefined) params.stop_timeout = tmpl.stop_timeout;
  const limits = createdLimits(params);

  return withLock(ctx, ctid, async () => {
    const db = ctx.db();
    const existing = db.getContainer(ctid);
    const t = ctx.target(ctid);
    const storage = getStorageDriver(params.layout ?? 'dir');
    const disk = params.diskspace;
    if (existing && existing.state !== 'creating') {
      throw new VzError('EXISTS', 'container already exists', { ctid, hint: `destroy it first: vzctl destroy ${ctid}` });
    }
    if (existing) {
      // A create that was killed half way: we hold the lock, so nobody else is working on it.
      cleanupRuntime(ctx, ctid, { unmount: true });
      storage.destroy(t);
      db.deleteContainer(ctid);
    } else if (storage.exists(t)) {
      throw new VzError('EXISTS', `private area ${t.privatePath} already exists`, {
        ctid,
        hint: 'it is not a known container: move it away or remove it',
      });
    }
    // Host devices are checked now (they exist, and are not the host's terminals or memory), not at the first start.
    if (params.devnodes) {
      params.devnodes = Object.fromEntries(Object.entries(params.devnodes).filter(([, perm]) => perm !== 'none'));
      devnodeRules(params.devnodes, ctid);
    }
    const inodes = params.diskinodes;
    const dlimits = diskParams(params);
    checkDiskLimits(ctx, storage, t, dlimits, dlimits, 'create');
    // Names, MACs and the stored form of the network parameters; checked before anything is made.
    const net = netConfigForCreate(ctx, ctid, params);
    return withRevert(async (undo) => {
      const row = db.insertContainer({
        ctid,
        name: cli.name ?? null,
        ostemplate: req.ostemplate,
        profile: profileName ?? null,
        uidSize: ctx.cfg.idmap.size,
        idmapBase: ctx.cfg.idmap.base,
        idmapCount: ctx.cfg.idmap.count,
        state: 'creating',
      });
      undo.add('remove the container record', () => void db.deleteContainer(ctid));
      // Reserved with the record (its addresses go with it): a second create of the same address,
      // even at the same moment, gets exit 78 here before any file is made.
      db.setIps(ctid, allAddresses(net));
      if (!isTemplateCached(ctx.cfg.paths.cache, { name: req.ostemplate, build: tmpl.build })) {
        ctx.progress(`Creating OS template cache ${req.ostemplate}`);
      }
      const cache = await ensureTemplateCache(ctx.cfg.paths.cache, { name: req.ostemplate, build: tmpl.build }, ctx.status);
      ctx.progress(`Creating container private area (${req.ostemplate})`);
      undo.add('remove the private area', () => storage.destroy(t));
      storage.create(t, (dir) => {
        copyTemplate(cache, dir);
        shiftTree(dir, row.uidBase, row.uidSize);
        if (params.hostname !== undefined) {
          writeFileInRoot(dir, 'etc/hostname', `${params.hostname}\n`, { uid: row.uidBase, gid: row.uidBase });
        }
      }, { sizeBytes: diskLimitBytes(disk), inodes: inodes?.hard ?? inodes?.soft ?? undefined, limits: createLimits(storage, dlimits) });
      const stored = Object.fromEntries(Object.entries(params).filter(([k]) => k !== 'name'));
      // What start needs from the template is copied in, beside the parameters: a container must
      // not depend on a template file that may be edited or removed later.
      db.setParams(ctid, { ...stored, ...templateInternals(tmpl) });
      crashPoint('create: private area made, config stored');
      db.setState(ctid, 'stopped', 'created');
      ctx.progress('Container private area was created');
      const open = HOST_WIDE.filter(([k]) => limits[k] === null).map(([, what]) => what);
      if (open.length) {
        ctx.warn(`CT ${ctid}: no limit on ${open.join(', ')}: it may take all of the host's (set them with vzctl set ${ctid} --ram/--numproc/--cpulimit)`);
      }
      return { ...db.getContainer(ctid)!, limits };
    });
  });
}
