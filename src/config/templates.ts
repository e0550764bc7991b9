/**
 * OS templates (templates/os/NAME.yaml: how to build a root fs and how its init is driven)
 * and resource profiles (templates/profiles/NAME.yaml: default params for create).
 * `dir` is the templates folder (GlobalConfig.templates_dir), holding os/ and profiles/.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { VzError } from '../base/errors.js';
import { configError, joinPath, locate, readFields, requireKeys } from './fields.js';
import type { FieldParsers } from './fields.js';
import { paramByKey, parseParams, type CtParams, type ParamValues } from './params.js';
import { parseSignal, toMapping, toStr, toStringList } from './values.js';
import { loadYamlFile } from './yamlfile.js';
import type { YamlDoc } from './yamlfile.js';

/** The options of a debootstrap build (src/template/debootstrap.ts runs it). */
export interface DebootstrapSpec {
  type: 'debootstrap';
  suite: string;
  variant?: string;
  mirror?: string;
  components?: string[];
  packages?: string[];
  /** systemd units that cannot work in an unprivileged container: linked to /dev/null. */
  mask?: string[];
  /** Shell commands run in the new tree (chroot) after the install, in order. */
  post_install?: string[];
}
/** How the root fs is made; `type` picks the builder, the other keys are that builder's options. */
export type BuildSpec = { type: 'busybox' } | DebootstrapSpec;

/** Which guest scripts configure the container's own files (hostname, network, DNS, users). */
export const DISTROS = ['busybox', 'debian'] as const;
export type Distro = (typeof DISTROS)[number];
export const INIT_TYPES = ['busybox', 'sysv', 'systemd'] as const;
export type InitType = (typeof INIT_TYPES)[number];

export interface OsTemplate {
  name: string;
  file: string;
  description: string;
  build: BuildSpec;
  distro: Distro;
  /** systemd: the container gets its own cgroup2 view on /sys/fs/cgroup (unified mode). */
  init_type: InitType;
  init: string[]; // argv of the container's init
  halt_signal: string; // sent to init by stop
  reboot_signal: string; // sent to init by restart
  stop_timeout?: number; // overrides the global default when set
  defaults: ParamValues; // params, as parseParams(..., 'profile') returns them
}

export interface Profile {
  name: string;
  file: string;
  description: string;
  params: ParamValues;
}

const SUITE_RE = /^[a-z][a-z0-9-]*$/;
const PKG_RE = /^[a-z0-9][a-z0-9+.-]+$/; // Debian policy 5.6.1
const UNIT_RE = /^[A-Za-z0-9:_.@\\-]+\.(service|socket|mount|automount|timer|path|target|slice|scope|swap|device)$/;

function matching(re: RegExp, what: string) {
  return (v: unknown, key: string): string => {
    const s = toStr(v, key);
    if (!re.test(s)) throw new VzError('INVALID', `invalid ${what} ${JSON.stringify(s)}`);
    return s;
  };
}
const listOf = (check: (v: unknown, key: string) => string, key: string) => (v: unknown) => toStringList(v, key).map((item) => check(item, key));

// Keys each build type accepts besides `type`. Adding a builder = adding an entry.
const BUILDERS: Record<string, { fields: FieldParsers; required: string[] }> = {
  busybox: { fields: {}, required: [] },
  debootstrap: {
    fields: {
      suite: (v) => matching(SUITE_RE, 'suite')(v, 'suite'),
      variant: (v) => {
        const s = toStr(v, 'variant');
        if (!['minbase', 'buildd', 'fakechroot', '-'].includes(s)) throw new VzError('INVALID', `invalid variant ${JSON.stringify(s)} (minbase, buildd, fakechroot or -)`);
        return s;
      },
      mirror: (v) => {
        const s = toStr(v, 'mirror');
        if (!/^(https?|file):\/\/\S+$/.test(s)) throw new VzError('INVALID', `invalid mirror ${JSON.stringify(s)}: an http(s):// or file:// URL`);
        return s;
      },
      components: listOf(matching(SUITE_RE, 'component'), 'components'),
      packages: listOf(matching(PKG_RE, 'package name'), 'packages'),
      mask: listOf(matching(UNIT_RE, 'systemd unit name'), 'mask'),
      post_install: (v) => toStringList(Array.isArray(v) ? v : [v], 'post_install'),
    },
    required: ['suite'],
  },
};

const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;

/** An OS template or profile name as this node could have it (a file name under templates/). */
export function isTemplateName(name: string): boolean {
  return name.length <= 64 && NAME_RE.test(name);
}

type Kind = { sub: 'os' | 'profiles'; what: string };
const OS: Kind = { sub: 'os', what: 'OS template' };
const PROFILE: Kind = { sub: 'profiles', what: 'profile' };

function list(dir: string, kind: Kind): string[] {
  let entries: string[];
  try {
    entries = readdirSync(path.join(dir, kind.sub));
  } catch {
    return [];
  }
  return entries
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .filter((n) => NAME_RE.test(n))
    .sort();
}

export const listOsTemplates = (dir: string): string[] => list(dir, OS);
export const listProfiles = (dir: string): string[] => list(dir, PROFILE);

function openDoc(dir: string, name: string, kind: Kind): YamlDoc {
  const file = path.join(dir, kind.sub, `${name}.yaml`);
  if (!NAME_RE.test(name) || !existsSync(file)) {
    const available = list(dir, kind);
    throw new VzError('TEMPLATE_NOT_FOUND', `unknown ${kind.what} ${JSON.stringify(name)} (available: ${available.join(', ') || 'none'})`, {
      hint: `${kind.what}s are read from ${path.join(dir, kind.sub)}`,
    });
  }
  return loadYamlFile(file, { missing: 'TEMPLATE_NOT_FOUND' });
}

function readBuild(doc: YamlDoc, raw: unknown): BuildSpec {
  const { type, ...rest } = toMapping(raw, 'build');
  if (type === undefined) throw configError(doc, 'build', 'missing required key "build.type"');
  const builder = typeof type === 'string' && Object.hasOwn(BUILDERS, type) ? BUILDERS[type] : undefined;
  if (builder === undefined) {
    throw configError(doc, 'build.type', `unknown build type ${JSON.stringify(type)} (known: ${Object.keys(BUILDERS).join(', ')})`);
  }
  const opts = readFields(doc, rest, builder.fields, 'build');
  requireKeys(doc, opts, builder.required, 'build');
  return { type, ...opts } as BuildSpec;
}

function readInit(raw: unknown): string[] {
  const argv = toStringList(raw, 'init');
  if (argv.length === 0 || !argv[0].startsWith('/')) {
    throw new VzError('INVALID', `"init" must start with an absolute path, got ${JSON.stringify(argv[0] ?? '')}`);
  }
  return argv;
}

/** Params in a YAML mapping, located per key (`prefix` is where the mapping sits in the file). */
function readParams(doc: YamlDoc, raw: Record<string, unknown>, prefix: string): ParamValues {
  return parseParams(raw, 'profile', (key) => locate(doc, joinPath(prefix, key)));
}

export function loadOsTemplate(dir: string, name: string): OsTemplate {
  const doc = openDoc(dir, name, OS);
  const t = readFields(doc, doc.data, {
    description: (v) => toStr(v, 'description'),
    build: (v) => readBuild(doc, v),
    distro: (v) => {
      const d = toStr(v, 'distro');
      if (!(DISTROS as readonly string[]).includes(d)) throw new VzError('INVALID', `unknown distro ${JSON.stringify(d)} (known: ${DISTROS.join(', ')})`);
      return d;
    },
    init_type: (v) => {
      const d = toStr(v, 'init_type');
      if (!(INIT_TYPES as readonly string[]).includes(d)) throw new VzError('INVALID', `unknown init_type ${JSON.stringify(d)} (known: ${INIT_TYPES.join(', ')})`);
      return d;
    },
    init: readInit,
    halt_signal: (v) => parseSignal(v, 'halt_signal'),
    reboot_signal: (v) => parseSignal(v, 'reboot_signal'),
    stop_timeout: (v) => paramByKey('stop_timeout')!.parse(v),
    defaults: (v) => readParams(doc, toMapping(v, 'defaults'), 'defaults'),
  });
  requireKeys(doc, t, ['build']);
  return {
    name,
    file: doc.file,
    description: (t.description as string | undefined) ?? '',
    build: t.build as BuildSpec,
    distro: (t.distro as Distro | undefined) ?? 'busybox',
    init_type: (t.init_type as InitType | undefined) ?? 'busybox',
    init: (t.init as string[] | undefined) ?? ['/sbin/init'],
    // LXC's defaults: what sysvinit and systemd treat as "power failure -> shut down" and ctrl-alt-del.
    halt_signal: (t.halt_signal as string | undefined) ?? 'SIGPWR',
    reboot_signal: (t.reboot_signal as string | undefined) ?? 'SIGINT',
    stop_timeout: t.stop_timeout as number | undefined,
    defaults: (t.defaults as ParamValues | undefined) ?? {},
  };
}

/**
 * What a container keeps from its OS template, copied in at create so that it does not depend
 * on a template file that may change later. The leading "_" marks them as the node's own: no
 * flag sets them, and a restore derives them again rather than take them from an archive.
 */
export function templateInternals(t: OsTemplate): Record<string, unknown> {
  const i: Required<CtInternals> = { init: t.init, init_type: t.init_type, distro: t.distro, halt_signal: t.halt_signal, reboot_signal: t.reboot_signal };
  return Object.fromEntries(Object.entries(i).map(([k, v]) => [`_${k}`, v]));
}

export const isInternalKey = (key: string): boolean => key.startsWith('_');

/** The node's own keys of a container (stored with a leading "_"), apart from its parameters. */
export interface CtInternals {
  init?: string[];
  init_type?: InitType;
  distro?: Distro;
  halt_signal?: string;
  reboot_signal?: string;
}

/** A container's stored config: its parameters, typed by the table, and the node's own keys in their own field. */
export interface StoredConfig {
  params: CtParams;
  internal: CtInternals;
}

/** Splits what the state database holds for a container into its parameters and the node's own keys. */
export function splitStored(raw: Record<string, unknown>): StoredConfig {
  const params: Record<string, unknown> = {};
  const internal: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (isInternalKey(k)) internal[k.slice(1)] = v;
    else params[k] = v;
  }
  // vzkit wrote every value, each after its parse() (or from the template, for the internal keys).
  return { params: params as CtParams, internal: internal as CtInternals };
}

export function loadProfile(dir: string, name: string): Profile {
  const doc = openDoc(dir, name, PROFILE);
  const { description, ...params } = doc.data;
  let desc = '';
  if (description !== undefined) {
    try {
      desc = toStr(description, 'description');
    } catch (e) {
      throw configError(doc, 'description', (e as Error).message, e);
    }
  }
  return { name, file: doc.file, description: desc, params: readParams(doc, params, '') };
}
