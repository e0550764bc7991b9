/**
 * vzctl set: validate through the parameter table, apply live to a running container where the
 * parameter allows it, and store with --save. A value that fails to apply is not stored.
 */
import type { Context } from '../context.js';
import { LOCK_WAIT_MS, withLock } from '../lock.js';
import { VzError } from '../../base/errors.js';
import { requireContainer } from '../resolve.js';
import { probeRuntime } from '../runtime-state.js';
import { parseParams, paramByKey } from '../../config/params.js';
import { setHostnameIn } from '../../runtime/attach.js';
import { parseHostname } from '../../config/names.js';
import { helperPath } from '../../base/package-root.js';
import { writeFileInRoot } from '../../sys/rootwrite.js';
import { limitsFromParams } from '../../config/limits.js';
import { DISK_KEYS, applyDiskLimits, checkDiskLimits, diskParams } from '../disk.js';
import { applyDevicesLive, applyIoPrio, applyLimitsLive, devnodeRules, hostInfo, mergeDevnodes } from '../apply-limits.js';
import { withRevert } from '../reverter.js';
import { refreshHosts, setNet } from '../apply-net.js';
import { NET_KEYS, pickDelta } from '../../net/config.js';
import { ACCESS_KEYS, applyAccess } from '../access.js';

type LiveApplier = (ctx: Context, ctid: number, value: unknown, initPid: number) => Promise<void>;

/** Anything set waits for must end well before another operation's lock wait gives up. */
const LIVE_TIMEOUT_MS = Math.max(1_000, Math.min(5_000, LOCK_WAIT_MS / 2));

const LIVE: Record<string, LiveApplier> = {
  async hostname(ctx, ctid, value, initPid) {
    // The helper joins the container's UTS namespace and calls sethostname(2) itself: running
    // the container's own hostname(1) would hand a binary the tenant controls our lock and fds.
    const h = parseHostname(value);
    const r = setHostnameIn(helperPath(), initPid, h, LIVE_TIMEOUT_MS);
    if (r.code !== 0) {
      const why = r.stderr.trim().split('\n').pop()?.replace(/^ctspawn: /, '');
      throw new VzError('BAD_HOSTNAME', `cannot set the hostname inside the container${why ? `: ${why}` : ` (exit ${r.code})`}`, { ctid });
    }
  },
};

export interface SetResult {
  applied: string[];
  saved: boolean;
}

export async function setParams(ctx: Context, ctid: number, raw: Record<string, unknown>, save: boolean): Promise<SetResult> {
  const params = parseParams(raw, 'set');
  if (Object.keys(params).length === 0) throw new VzError('NOT_ENOUGH_PARAMS', 'nothing to set', { ctid });
  return withLock(ctx, ctid, async () => {
    const row = requireContainer(ctx, ctid);
    const db = ctx.db();
    const probe = probeRuntime(ctx.paths(ctid));
    const access = ACCESS_KEYS.filter((k) => k in params);
    // Passwords and keys go into the container's files at once, running or not: never stored.
    if (!probe.running && !save && access.length < Object.keys(params).length) {
      throw new VzError('NOT_RUNNING', 'container is not running: nothing to apply', { ctid, hint: 'add --save to store the change' });
    }
    const stored = db.getParams(ctid);
    // Like devnodes: a change to the stored set, not a replacement.
    if (params.features) params.features = { ...(stored.features as object | undefined), ...(params.features as object) };
    if (params.capability) params.capability = { ...(stored.capability as object | undefined), ...(params.capability as object) };
    if (params.devnodes) {
      // A change, not a replacement: merged with what is stored; checked against the host now.
      params.devnodes = mergeDevnodes(stored.devnodes, params.devnodes as Record<string, string>);
      devnodeRules(params.devnodes as Record<string, string>, ctid);
    }
    const accessValues = Object.fromEntries(access.map((k) => [k, params[k]]));
    for (const k of access) delete params[k];
    const netDelta = pickDelta(params);
    for (const k of NET_KEYS) delete params[k];
    const t = ctx.target(ctid);
    const mounted = ctx.storage(ctid).isMounted(t);
    const owner = { uid: row.uidBase, gid: row.uidBase };
    return withRevert(async (undo) => {
      const applied: string[] = [];
      if (netDelta) {
        // First: a refused address (78) or a failed live change leaves everything else untouched,
        // and a later failure takes the network change back.
        const hostname = (params.hostname as string | undefined) ?? (stored.hostname as string | undefined);
        const res = setNet(ctx, ctid, netDelta as Record<string, unknown>, {
          save, initPid: probe.running ? probe.initPid : undefined, stored, hostname, root: mounted ? t.mountPath : undefined, owner,
        }, undo);
        if (res.applied) applied.push(...Object.keys(netDelta));
        if (save) Object.assign(params, res.store);
      }
      const byApplier = (name: string) => Object.fromEntries(Object.entries(params).filter(([k]) => paramByKey(k)?.liveApply === name));
      const limits = byApplier('cgroup');
      // Checked even for a stopped container, so that what is stored can be applied at start.
      if (Object.keys(limits).length) limitsFromParams({ ...stored, ...limits }, hostInfo());
      const diskKeys = DISK_KEYS.filter((k) => k in params);
      if (diskKeys.length) {
        // Disk limits live with the private area, running or not: quotas change at once, an image is resized.
        const storage = ctx.storage(ctid);
        const all = diskParams({ ...stored, ...params });
        const changed = diskParams(params);
        checkDiskLimits(ctx, storage, t, all, changed, 'set');
        applyDiskLimits(ctx, storage, t, all, changed);
        applied.push(...diskKeys);
      }
      if (probe.running) {
        if (Object.keys(limits).length) {
          applyLimitsLive(ctx, ctid, stored, limits);
          applied.push(...Object.keys(limits));
        }
        if (params.devnodes) {
          const before = (stored.devnodes as Record<string, string> | undefined) ?? {};
          applyDevicesLive(ctx, ctid, before, params.devnodes as Record<string, string>); // already merged above
          applied.push('devnodes');
        }
        if (typeof params.ioprio === 'number') {
          applyIoPrio(ctx, ctid, params.ioprio);
          applied.push('ioprio');
        }
        for (const [key, value] of Object.entries(params)) {
          const apply = LIVE[paramByKey(key)?.liveApply ?? ''];
          if (apply) {
            await apply(ctx, ctid, value, probe.initPid!);
            applied.push(key);
          }
        }
      }
      // Last: a password or key written cannot be taken back, so nothing may fail after it.
      if (access.length) {
        applyAccess(ctx, ctid, row.uidBase, accessValues);
        applied.push(...access);
      }
      if ('hostname' in params && mounted && (probe.running || save)) {
        refreshHosts(ctx, ctid, t.mountPath, params.hostname as string, probe.running, stored, owner);
      }
      if (save) {
        if ('hostname' in params && mounted) {
          // Also in the container's own files now (through openat2, never following its symlinks);
          // a stopped container gets it at its next start, which writes /etc/hostname anyway.
          // The container owns that file: if it made it something we will not write (a FIFO, a
          // directory), the hostname is still set and stored, as start does it.
          try {
            writeFileInRoot(t.mountPath, 'etc/hostname', `${params.hostname}\n`, { uid: row.uidBase, gid: row.uidBase });
          } catch (e) {
            ctx.warn(`CT ${ctid}: /etc/hostname not written: ${(e as Error).message}`);
          }
        }
        db.transaction(() => {
          if ('name' in params) db.setName(ctid, params.name as string | null);
          const rest = Object.fromEntries(Object.entries(params).filter(([k]) => k !== 'name'));
          db.setParams(ctid, rest);
        });
        ctx.progress('Saved parameters for container');
      }
      return { applied, saved: save };
    });
  });
}
