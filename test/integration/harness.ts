/**
 * A private vzkit node for one test file: its own VZKIT_CONFIG root and node name, the real
 * commands from dist/, and a teardown that removes everything the node made (containers,
 * monitors, mounts, cgroups, files) even when the test failed half way.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { removeNodeCgroups } from '../../src/cgroup/index.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const isRoot = process.getuid?.() === 0;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class TestNode {
  readonly dir: string;
  readonly root: string;
  readonly node: string;
  readonly configFile: string;
  readonly env: NodeJS.ProcessEnv;
  readonly idmapBase: number;

  constructor(extraConfig = '', opts: { idmapCount?: number; idmapBase?: number } = {}) {
    // Under /tmp (mode 1777, so traversable by container root uids); 0711 like a real root.
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-test-'));
    fs.chmodSync(this.dir, 0o711);
    this.root = path.join(this.dir, 'root');
    this.node = 't' + Math.random().toString(36).slice(2, 7);
    this.configFile = path.join(this.dir, 'vzkit.yaml');
    // Each test node gets its own uid pool so that parallel test files never share host uids.
    // (A migration rig's second node takes the first's, so their slots collide: migrate/rig.ts.)
    const base = opts.idmapBase ?? 1_000_000 + Math.floor(Math.random() * 4000) * 65536 * 4;
    fs.writeFileSync(this.configFile, `root: ${this.root}\nnode: ${this.node}\nidmap:\n  base: ${base}\n  count: ${opts.idmapCount ?? 4}\nstop_timeout: 10\n${extraConfig}`);
    this.env = { ...process.env, VZKIT_CONFIG: this.configFile };
    this.idmapBase = base;
  }

  run(cmd: 'vzctl' | 'vzlist' | 'vzmigrate', args: string[], opts: { input?: string; timeout?: number } = {}): RunResult {
    const r: SpawnSyncReturns<string> = spawnSync(path.join(REPO, 'dist', cmd), args, {
      env: this.env,
      encoding: 'utf8',
      input: opts.input,
      timeout: opts.timeout ?? 60_000,
    });
    return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  vzctl(...args: string[]): RunResult {
    return this.run('vzctl', args);
  }

  vzlist(...args: string[]): RunResult {
    return this.run('vzlist', args);
  }

  /** Asserts success and returns stdout; the error text makes failures readable. */
  ok(...args: string[]): string {
    const r = this.vzctl(...args);
    if (r.code !== 0) throw new Error(`vzctl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Removes everything: stops monitors, unmounts, removes cgroups and files. */
  cleanup(): void {
    const run = path.join(this.root, 'run');
    if (fs.existsSync(run)) {
      for (const f of fs.readdirSync(run).filter((f) => f.endsWith('.pid'))) {
        const [m, i] = fs.readFileSync(path.join(run, f), 'utf8').trim().split(/\s+/).map(Number);
        for (const pid of [i, m]) {
          try {
            if (pid) process.kill(pid, 'SIGKILL');
          } catch {}
        }
      }
    }
    waitFor(() => listMountsUnder(this.dir).length === 0 || allMonitorsGone(run), 3000);
    for (const m of listMountsUnder(this.dir)) spawnSync('umount', ['-l', m]);
    try {
      removeNodeCgroups(this.node);
    } catch {}
    // Host interfaces named after the node (veth ends, ifbs, a test's bridge "NODEbr") that a
    // SIGKILLed monitor or an aborted test left: the names are the node's alone.
    const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? '';
    for (const m of links.matchAll(/^\d+: ([^:@\s]+)/gm)) {
      if (m[1]!.startsWith(this.node)) spawnSync('ip', ['link', 'del', m[1]!]);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function allMonitorsGone(run: string): boolean {
  if (!fs.existsSync(run)) return true;
  return fs.readdirSync(run).every((f) => !f.endsWith('.pid'));
}

export function listMountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length);
}

export function waitFor(cond: () => boolean, ms: number): boolean {
  const end = Date.now() + ms;
  const buf = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < end) {
    if (cond()) return true;
    Atomics.wait(buf, 0, 0, 20);
  }
  return cond();
}

/** Host pids whose cgroup path (any hierarchy) is the node's. */
export function pidsInNode(node: string): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cg = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      if (cg.includes(`/${node}/`)) out.push(Number(pid));
    } catch {}
  }
  return out;
}

/** Host pids below `root` (children, grandchildren...), from /proc's parent links. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {}
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const [c, pp] of parent) if (pp === pid) (out.push(c), walk(c));
  };
  walk(root);
  return out;
}
