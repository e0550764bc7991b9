/**
 * The layer rule, enforced: every relative import in src/, migrate/ and quota/ (the bin entry
 * points included) points to a folder in a lower layer, or to one of the lateral edges listed in
 * LATERAL. The picture and the reasons are in the README's architecture section.
 * VZKIT_LAYERS_ROOT=DIR checks another checkout (e.g. main's, to see the rule fail there).
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.env.VZKIT_LAYERS_ROOT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Lowest first; folders on one row are one level and may not import each other unless listed below. */
export const LAYERS: string[][] = [
  ['base'], // errors and exit codes, version, package root, crash points and fault switches
  ['sys'], // syscall bindings, /proc readers, lazy child_process
  ['state', 'config', 'cgroup', 'net', 'storage', 'runtime', 'distro', 'template', 'quota', 'criu'],
  ['core'], // ContainerService, ops, locks, live appliers
  ['backup', 'migrate', 'sched'], // work over core's operations; core does not know them
  ['cli'],
  ['bin'], // the entry points
];

/** Imports between folders of one level that are allowed, each with its reason. */
export const LATERAL: Record<string, string> = {
  // The parameter table and the global config validate each value with its domain's own parser.
  'config -> net': 'addresses, interface names, MACs and rates are parsed by src/net (pure functions)',
  'config -> distro': '--userpasswd and --ssh-key are parsed by distro/users.ts, which also writes them',
  'config -> cgroup': 'config/limits.ts turns parameters into cgroup\'s ResourceLimits (a type import)',
  'template -> config': 'a template is built from its parsed file (BuildSpec, DebootstrapSpec: type imports)',
  'storage -> quota': 'the dir driver limits a private area with project quotas',
  'criu -> cgroup': 'a restore re-creates the delegated cgroup directories (cgroup/delegate.ts)',
  'sched -> backup': 'scheduled vzdump jobs: the job options are vzdump\'s and a run calls dumpContainer',
};

/** Files outside the code folders that a layer may read (version.ts bundles package.json). */
const DATA: Record<string, string[]> = { 'package.json': ['base'] };

const level = new Map(LAYERS.flatMap((row, i) => row.map((f) => [f, i] as const)));

/** The folder (layer unit) of a path relative to the root: src/X/... -> X, migrate/... -> migrate. */
function folderOf(rel: string): string {
  const parts = rel.split('/');
  if (parts[0] === 'src') return parts.length > 2 ? parts[1] : rel;
  return parts.length > 1 ? parts[0] : rel;
}

function tsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

// `from '...'` ends every static import and re-export (also one over several lines); then
// side-effect imports and dynamic import().
const IMPORT = /\bfrom\s*['"](\.{1,2}\/[^'"\n]+)['"]|^\s*import\s*['"](\.{1,2}\/[^'"\n]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"\n]+)['"]/gm;

export interface Edge { file: string; spec: string; from: string; to: string }

export function edges(base = root): Edge[] {
  const out: Edge[] = [];
  for (const top of ['src', 'migrate', 'quota']) {
    for (const abs of tsFiles(path.join(base, top))) {
      const file = path.relative(base, abs);
      const text = fs.readFileSync(abs, 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[1] ?? m[2] ?? m[3];
        const target = path.relative(base, path.resolve(path.dirname(abs), spec));
        const from = folderOf(file);
        const to = folderOf(target);
        if (from !== to) out.push({ file, spec, from, to });
      }
    }
  }
  return out;
}

/** Why an edge breaks the rule, or undefined when it keeps it. */
export function violation(e: Edge): string | undefined {
  const a = level.get(e.from);
  if (a === undefined) return `${e.from} is in no layer (add the folder to LAYERS)`;
  if (e.to in DATA) return DATA[e.to].includes(e.from) ? undefined : `${e.to} is read only by ${DATA[e.to].join(', ')}`;
  const b = level.get(e.to);
  if (b === undefined) return `${e.to} is in no layer`;
  if (b < a) return undefined;
  if (b > a) return `points upward (${e.from} -> ${e.to})`;
  return `${e.from} -> ${e.to}` in LATERAL ? undefined : `crosses one level (${e.from} -> ${e.to}) without being in LATERAL`;
}

describe('layers', () => {
  it('sees every form of import (checked on a tree made here)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-layers-'));
    try {
      fs.mkdirSync(path.join(dir, 'src/base'), { recursive: true });
      fs.writeFileSync(
        path.join(dir, 'src/base/a.ts'),
        [
          "import {",
          "  x, // don't",
          "} from '../core/one.js';",
          "export { y } from '../cli/two.js';",
          "import '../sched/three.js';",
          "const m = await import('../backup/four.js');",
          "import type { Z } from './same.js';",
          "import fs from 'node:fs';",
        ].join('\n'),
      );
      const found = edges(dir);
      expect(found.map((e) => e.spec)).toEqual(['../core/one.js', '../cli/two.js', '../sched/three.js', '../backup/four.js']);
      expect(found.every((e) => violation(e)?.startsWith('points upward'))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every import points down, or is a listed lateral edge', () => {
    const all = edges();
    expect(all.length).toBeGreaterThan(100); // the walk found the code
    const bad = all.flatMap((e) => {
      const why = violation(e);
      return why ? [`${e.file}: import '${e.spec}' ${why}`] : [];
    });
    expect(bad).toEqual([]);
  });

  it('every folder under src/ is in a layer', () => {
    const dirs = fs.readdirSync(path.join(root, 'src'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(dirs.filter((d) => !level.has(d))).toEqual([]);
  });

  it('every listed lateral edge is still used (the list does not outlive the code)', () => {
    const used = new Set(edges().map((e) => `${e.from} -> ${e.to}`));
    expect(Object.keys(LATERAL).filter((k) => !used.has(k))).toEqual([]);
  });

  it('the lateral edges have no cycle', () => {
    const next = new Map<string, string[]>();
    for (const k of Object.keys(LATERAL)) {
      const [a, b] = k.split(' -> ');
      next.set(a, [...(next.get(a) ?? []), b]);
    }
    const reaches = (a: string, b: string, seen = new Set<string>()): boolean =>
      (next.get(a) ?? []).some((n) => n === b || (!seen.has(n) && (seen.add(n), reaches(n, b, seen))));
    expect(Object.keys(LATERAL).filter((k) => { const [a, b] = k.split(' -> '); return reaches(b, a); })).toEqual([]);
  });
});
