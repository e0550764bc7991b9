/** vzdump.yaml: the container's config and what kind of backup the archive is. */
import { load } from 'js-yaml';
import { VzError } from '../core/errors.js';
import { sortedParams, toYaml } from '../config/export.js';
import type { ContainerRow } from '../state/types.js';

export const FORMAT_VERSION = 1;
export const MODES = ['stop', 'suspend', 'snapshot'] as const;
export type BackupMode = (typeof MODES)[number];

export interface Manifest {
  format: number;
  ctid: number;
  name: string | null;
  ostemplate: string;
  profile: string | null;
  mode: BackupMode;
  created: string; // ISO 8601
  node: string;
  /** Owners in root/ are the container's own (0 = its root); size of its id range. */
  uid_size: number;
  /** The host uid of its root when it was taken: a checkpoint resumes only there. */
  uid_base?: number;
  checkpoint: boolean;
  params: Record<string, unknown>;
}

export function makeManifest(row: ContainerRow, params: Record<string, unknown>, m: { mode: BackupMode; node: string; at: Date; checkpoint: boolean }): Manifest {
  return {
    format: FORMAT_VERSION,
    ctid: row.ctid,
    name: row.name,
    ostemplate: row.ostemplate,
    profile: row.profile,
    mode: m.mode,
    created: m.at.toISOString(),
    node: m.node,
    uid_size: row.uidSize,
    uid_base: row.uidBase,
    checkpoint: m.checkpoint,
    params: sortedParams(params),
  };
}

export function manifestYaml(m: Manifest): string {
  return `# vzkit backup of CT ${m.ctid}\n${toYaml(m as unknown as Record<string, unknown>)}`;
}

export function parseManifest(text: string, archive: string): Manifest {
  let doc: unknown;
  try {
    doc = load(text);
  } catch (e) {
    throw new VzError('INVALID', `${archive}: unreadable vzdump.yaml: ${(e as Error).message.split('\n')[0]}`);
  }
  const m = doc as Partial<Manifest> | null;
  if (!m || typeof m !== 'object' || typeof m.ctid !== 'number' || typeof m.ostemplate !== 'string' || typeof m.params !== 'object') {
    throw new VzError('INVALID', `${archive}: vzdump.yaml lacks ctid, ostemplate or params`);
  }
  if (m.format !== FORMAT_VERSION) throw new VzError('INVALID', `${archive}: backup format ${String(m.format)} is not supported (this vzkit reads ${FORMAT_VERSION})`);
  return m as Manifest;
}
