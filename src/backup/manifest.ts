/**
 * vzdump.yaml: the container's config and what kind of backup the archive is. An archive is
 * anyone's (a customer's upload, a shared backup store; its .sha256 proves nothing), so every
 * field is checked here as strictly as the command line would be; the params are checked by
 * archive-params.ts against the parameter table.
 */
import { VzError } from '../base/errors.js';
import { sortedParams, toYaml } from '../config/export.js';
import { parseYaml } from '../config/yamlfile.js';
import { parseCtName } from '../config/names.js';
import { CTID_MAX, CTID_MIN } from '../config/ctid.js';
import { parseNode } from '../config/global.js';
import { isInternalKey, isTemplateName } from '../config/templates.js';
import { show } from '../config/values.js';
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
    // The "_" keys are this node's own (from the OS template): a restore derives them again.
    params: sortedParams(Object.fromEntries(Object.entries(params).filter(([k]) => !isInternalKey(k)))),
  };
}

export function manifestYaml(m: Manifest): string {
  return `# vzkit backup of CT ${m.ctid}\n${toYaml(m as unknown as Record<string, unknown>)}`;
}

const FIELDS = ['format', 'ctid', 'name', 'ostemplate', 'profile', 'mode', 'created', 'node', 'uid_size', 'uid_base', 'checkpoint', 'params'];

/** Parses and checks vzdump.yaml; throws one INVALID line naming the archive and the field. */
export function parseManifest(text: string, archive: string): Manifest {
  const where = `${archive}: vzdump.yaml`;
  let doc: Record<string, unknown>;
  try {
    doc = parseYaml(text, where).data;
  } catch (e) {
    // "ARCHIVE: vzdump.yaml:LINE: reason" (yamlfile's form), as a bad archive's code.
    throw new VzError('INVALID', (e as Error).message, { cause: e, hint: 'the archive was not restored' });
  }
  const bad = (field: string, why: string) => new VzError('INVALID', `${where}: ${field}: ${why}`, { hint: 'the archive was not restored' });
  for (const k of Object.keys(doc)) if (!FIELDS.includes(k)) throw bad(k, 'unknown field');
  if (typeof doc.ctid !== 'number' || typeof doc.ostemplate !== 'string' || doc.params === undefined) {
    throw new VzError('INVALID', `${archive}: vzdump.yaml lacks ctid, ostemplate or params`);
  }
  if (doc.format !== FORMAT_VERSION) throw new VzError('INVALID', `${archive}: backup format ${show(doc.format)} is not supported (this vzkit reads ${FORMAT_VERSION})`);
  const int = (field: string, min: number, max: number): number => {
    const v = doc[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(field, `expected an integer in ${min}..${max}, got ${show(v)}`);
    return v;
  };
  const tmplName = (field: string): string => {
    const v = doc[field];
    if (typeof v !== 'string' || !isTemplateName(v)) throw bad(field, `not a template or profile name: ${show(v)}`);
    return v;
  };
  const sub = <T>(field: string, parse: () => T): T => {
    try {
      return parse();
    } catch (e) {
      throw bad(field, (e as Error).message);
    }
  };
  const m: Manifest = {
    format: FORMAT_VERSION,
    ctid: int('ctid', CTID_MIN, CTID_MAX),
    name: doc.name === null || doc.name === undefined ? null : sub('name', () => parseCtName(doc.name)),
    ostemplate: tmplName('ostemplate'),
    profile: doc.profile === null || doc.profile === undefined ? null : tmplName('profile'),
    mode: (MODES as readonly unknown[]).includes(doc.mode) ? (doc.mode as BackupMode) : (() => { throw bad('mode', `expected ${MODES.join(', ')}, got ${show(doc.mode)}`); })(),
    created: typeof doc.created === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(doc.created) ? doc.created : (() => { throw bad('created', `expected an ISO 8601 UTC time, got ${show(doc.created)}`); })(),
    node: sub('node', () => parseNode(doc.node)),
    uid_size: int('uid_size', 1, 2 ** 32 - 1),
    checkpoint: typeof doc.checkpoint === 'boolean' ? doc.checkpoint : (() => { throw bad('checkpoint', `expected true or false, got ${show(doc.checkpoint)}`); })(),
    params: doc.params === null ? {} : (doc.params as Record<string, unknown>),
  };
  if (doc.uid_base !== undefined) m.uid_base = int('uid_base', 0, 2 ** 32 - 1);
  if (typeof doc.params !== 'object' || Array.isArray(doc.params)) throw bad('params', 'expected a mapping of parameters');
  return m;
}
