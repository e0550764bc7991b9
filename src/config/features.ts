/**
 * Container features (vzctl's --features NAME:on|off[,NAME:on|off]). One feature today:
 *   nesting  namespaces inside the container of the kinds CRIU cannot checkpoint (UTS, IPC, PID,
 *            user, cgroup, time: Docker, `unshare -p`, systemd's ProtectHostname=). Off by
 *            default: the container's seccomp policy refuses to create them with EPERM (clone3
 *            with ENOSYS) and the container stays live-migratable (UTS and IPC stay allowed on a
 *            node whose CRIU dumps them nested: patch 0003, native/harden.h); on, they are allowed and the
 *            container can no longer be checkpointed (suspend, vzdump --mode snapshot and
 *            vzmigrate --online refuse it before freezing anything).
 */
import { VzError } from '../base/errors.js';
import { show } from './values.js';

export const FEATURES = ['nesting'] as const;
export type Feature = (typeof FEATURES)[number];
export type FeatureSettings = Partial<Record<Feature, 'on' | 'off'>>;

/** NAME:on|off, repeatable or comma-separated (vzctl's spelling), any case. */
export function parseFeatures(raw: unknown): FeatureSettings {
  const items = (Array.isArray(raw) ? raw : [raw]).flatMap((i) => (typeof i === 'string' ? i.split(',') : [i]));
  const out: FeatureSettings = {};
  for (const item of items) {
    const s = typeof item === 'string' ? item.trim().toLowerCase() : '';
    const m = /^([a-z_]+):(on|off)$/.exec(s);
    if (!m) throw new VzError('INVALID', `invalid feature ${show(item)}: expected NAME:on|off, e.g. nesting:on`);
    if (!(FEATURES as readonly string[]).includes(m[1]!)) throw new VzError('INVALID', `unknown feature ${show(m[1])} (known: ${FEATURES.join(', ')})`);
    out[m[1] as Feature] = m[2] as 'on' | 'off';
  }
  return out;
}

/** Whether a container's stored settings turn a feature on (all are off by default). */
export function featureOn(settings: unknown, f: Feature): boolean {
  return typeof settings === 'object' && settings !== null && (settings as FeatureSettings)[f] === 'on';
}

/** "nesting:on" for vzlist; "-" when nothing is set. */
export function showFeatures(settings: unknown): string {
  const s = (typeof settings === 'object' && settings !== null ? settings : {}) as FeatureSettings;
  const parts = FEATURES.filter((f) => s[f]).map((f) => `${f}:${s[f]}`);
  return parts.length ? parts.join(',') : '-';
}
