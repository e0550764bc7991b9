/** vzlist: a table of containers (running by default), vzlist's options and field names. */
import { Output, requireRoot, writeErr } from './output.js';
import { VERSION } from '../base/version.js';
import { VzError } from '../base/errors.js';
import { ContainerService } from '../core/service.js';

import { renderTable, type Column } from './table.js';
import { formatSize } from '../config/units.js';
import type { ListEntry } from '../core/ops/status.js';

interface Field {
  header: string;
  get(e: ListEntry): string | number | null;
  right?: boolean;
  /** Byte counts read better as 64M in a table; JSON keeps the number. */
  size?: boolean;
  /** Needs the private area's usage (computed only when such a field is asked for). */
  disk?: boolean;
}

export const FIELDS: Record<string, Field> = {
  ctid: { header: 'CTID', get: (e) => e.ctid, right: true },
  name: { header: 'NAME', get: (e) => e.name },
  hostname: { header: 'HOSTNAME', get: (e) => e.hostname },
  status: { header: 'STATUS', get: (e) => e.status },
  numproc: { header: 'NPROC', get: (e) => e.numproc, right: true },
  ostemplate: { header: 'OSTEMPLATE', get: (e) => e.ostemplate },
  profile: { header: 'PROFILE', get: (e) => e.profile },
  description: { header: 'DESCRIPTION', get: (e) => e.description },
  onboot: { header: 'ONBOOT', get: (e) => (e.onboot ? 'yes' : 'no') },
  uid_base: { header: 'UID_BASE', get: (e) => e.uid_base, right: true },
  init_pid: { header: 'INIT_PID', get: (e) => e.init_pid, right: true },
  created: { header: 'CREATED', get: (e) => e.created },
  ram: { header: 'RAM', get: (e) => e.ram, right: true, size: true },
  swap: { header: 'SWAP', get: (e) => e.swap, right: true, size: true },
  physpages: { header: 'PHYSPAGES', get: (e) => e.usage?.physpages ?? null, right: true },
  swappages: { header: 'SWAPPAGES', get: (e) => e.usage?.swappages ?? null, right: true },
  'ram.f': { header: 'RAM.F', get: (e) => e.usage?.ram_failcnt ?? null, right: true },
  oomkills: { header: 'OOMKILLS', get: (e) => e.usage?.oom_kills ?? null, right: true },
  'numproc.l': { header: 'NPROC.L', get: (e) => e.numproc_l, right: true },
  'numproc.f': { header: 'NPROC.F', get: (e) => e.usage?.numproc_failcnt ?? null, right: true },
  cpus: { header: 'CPUS', get: (e) => e.cpus, right: true },
  cpulimit: { header: 'CPULIM', get: (e) => e.cpulimit, right: true },
  cpuunits: { header: 'CPUUNI', get: (e) => e.cpuunits, right: true },
  cpumask: { header: 'CPUMASK', get: (e) => e.cpumask },
  laverage: { header: 'LAVERAGE', get: (e) => e.usage?.laverage?.map((x) => x.toFixed(2)).join('/') ?? null },
  // Disk fields (1 KiB blocks, like vzlist): read only when asked, a dir's usage walks its tree.
  diskspace: { header: 'DQBLOCKS', get: (e) => e.disk?.blocks.usage ?? null, right: true, disk: true },
  'diskspace.s': { header: 'DQBLOCKS.S', get: (e) => e.disk?.blocks.soft ?? null, right: true, disk: true },
  'diskspace.h': { header: 'DQBLOCKS.H', get: (e) => e.disk?.blocks.hard ?? null, right: true, disk: true },
  diskinodes: { header: 'DQINODES', get: (e) => e.disk?.inodes.usage ?? null, right: true, disk: true },
  'diskinodes.s': { header: 'DQINODES.S', get: (e) => e.disk?.inodes.soft ?? null, right: true, disk: true },
  'diskinodes.h': { header: 'DQINODES.H', get: (e) => e.disk?.inodes.hard ?? null, right: true, disk: true },
  layout: { header: 'LAYOUT', get: (e) => e.layout },
  features: { header: 'FEATURES', get: (e) => e.features },
  ip: { header: 'IP_ADDR', get: (e) => (e.ip.length ? e.ip.join(' ') : '-') },
  cputime: { header: 'CPUTIME', get: (e) => (e.usage ? Math.round(e.usage.cpu_us / 1000) : null), right: true },
};

const DEFAULT_FIELDS = ['ctid', 'numproc', 'status', 'hostname'];

/** vzlist's options, one table for yargs (help, errors) and for the fast parse below. */
const OPTIONS = {
  all: { alias: 'a', type: 'boolean', describe: 'list all containers, not only running ones' },
  stopped: { alias: 'S', type: 'boolean', describe: 'list stopped containers only' },
  output: { alias: 'o', type: 'string', describe: `fields: ${Object.keys(FIELDS).join(',')}`, requiresArg: true },
  'no-header': { alias: 'H', type: 'boolean', describe: 'no header line' },
  sort: { alias: 's', type: 'string', describe: 'sort by FIELD (-FIELD: descending)', requiresArg: true },
  json: { alias: 'j', type: 'boolean', describe: 'JSON output' },
  'ctid-only': { alias: '1', type: 'boolean', describe: 'print CTIDs only' },
  'list-fields': { alias: 'L', type: 'boolean', describe: 'list the available fields' },
} as const;

type Args = Record<string, unknown> & { _: (string | number)[] };

/**
 * The common calls (`vzlist -a`, `vzlist -j -o ctid,status`) are parsed with yargs-parser, the
 * parser inside yargs, from the same table: yargs itself costs more than the listing.
 * Anything it cannot take as plainly valid (help, unknown or malformed options) goes to yargs.
 */
async function fastParse(argv: string[]): Promise<Args | undefined> {
  if (argv.some((a) => a === '--help' || a === '--version' || a === '-h')) return undefined;
  const { default: parse } = await import('yargs-parser');
  const entries = Object.entries(OPTIONS);
  const r = parse.detailed(argv, {
    boolean: entries.filter(([, o]) => o.type === 'boolean').map(([k]) => k),
    string: entries.filter(([, o]) => o.type === 'string').map(([k]) => k),
    alias: Object.fromEntries(entries.map(([k, o]) => [k, o.alias])),
    configuration: { 'camel-case-expansion': false },
  });
  if (r.error) return undefined;
  const known = new Set(['_', '$0', ...entries.flatMap(([k, o]) => [k, o.alias])]);
  if (Object.keys(r.argv).some((k) => !known.has(k))) return undefined;
  for (const [k, o] of entries) {
    if (o.type === 'string' && k in r.argv && (typeof r.argv[k] !== 'string' || r.argv[k] === '')) return undefined;
  }
  return r.argv as Args;
}

export async function vzlistMain(argv: string[]): Promise<number> {
  let out = new Output('vzlist', argv.includes('-j') || argv.includes('--json'), false);
  try {
    const args = (await fastParse(argv)) ?? ((await (await import('yargs')).default(argv)
      .scriptName('vzlist')
      .usage('$0 [-a|-S] [-o FIELD,...] [-H] [-s [-]FIELD] [-j] [CTID...]')
      .strictOptions() // CTIDs and names are free positionals
      .help()
      .version(VERSION)
      .exitProcess(false)
      .fail((msg, err) => {
        throw err instanceof VzError ? err : new VzError('SYNTAX', msg || err?.message || 'invalid command line');
      })
      .options(OPTIONS)
      .parseAsync()) as Args);
    if (args.help || args.version) return 0;
    out = new Output('vzlist', Boolean(args.json), false);
    if (args['list-fields']) {
      out.result(Object.keys(FIELDS), () => Object.entries(FIELDS).map(([k, f]) => `${k.padEnd(12)} ${f.header}`).join('\n'));
      return 0;
    }
    const fields = args['ctid-only'] ? ['ctid'] : args.output ? String(args.output).split(',').map((f) => f.trim()) : DEFAULT_FIELDS;
    for (const f of fields) {
      if (!FIELDS[f]) throw new VzError('SYNTAX', `unknown field "${f}" (vzlist -L lists them)`);
    }
    requireRoot();
    const svc = new ContainerService();
    let rows: ListEntry[];
    try {
      const ids = args._.map((a) => svc.resolve(String(a)));
      rows = svc.list();
      if (fields.some((f) => FIELDS[f]!.disk)) rows = rows.map((r) => ({ ...r, disk: svc.quota(r.ctid) }));
      if (ids.length) {
        rows = rows.filter((r) => ids.includes(r.ctid));
        const missing = ids.filter((id) => !rows.some((r) => r.ctid === id));
        if (missing.length) throw new VzError('NOT_FOUND', `container(s) not found: ${missing.join(', ')}`);
      } else if (args.stopped) rows = rows.filter((r) => r.status !== 'running');
      else if (!args.all) rows = rows.filter((r) => r.status === 'running');
    } finally {
      svc.close();
    }
    if (args.sort) {
      const key = String(args.sort).replace(/^-/, '');
      const f = FIELDS[key];
      if (!f) throw new VzError('SYNTAX', `unknown sort field "${key}"`);
      const dir = String(args.sort).startsWith('-') ? -1 : 1;
      rows.sort((a, b) => dir * compare(f.get(a), f.get(b)));
    }
    const cols: Column<ListEntry>[] = fields.map((k) => {
      const f = FIELDS[k]!;
      return f.size ? { ...f, get: (e: ListEntry) => (f.get(e) === null ? null : formatSize(f.get(e) as number)) } : f;
    });
    out.result(
      rows.map((r) => Object.fromEntries(fields.map((k) => [k, FIELDS[k]!.get(r)]))),
      () => (rows.length || args['no-header'] || args['ctid-only'] ? renderTable(rows, cols, { header: !args['no-header'] && !args['ctid-only'] }) : undefined),
    );
    if (!rows.length && !out.json && !args['no-header']) writeErr('Container(s) not found\n');
    return 0;
  } catch (e) {
    return out.error(e);
  }
}

function compare(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b));
}
