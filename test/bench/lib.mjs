// Small helpers for the benchmarks: running commands, hyperfine, timing, statistics.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Set on Ctrl-C: from then on only cleanup commands (always: true) run. */
export const state = { interrupted: false };

function checkInterrupted(always) {
  if (state.interrupted && !always) throw new Error('interrupted');
}

/** Runs a command to completion; throws with its output unless allowFail. */
export function run(cmd, args, { env, allowFail = false, timeout = 120_000, always = false, input } = {}) {
  checkInterrupted(always);
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout, maxBuffer: 256 << 20, input });
  const res = { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
  if (res.code !== 0 && !allowFail) {
    const out = (res.stderr + res.stdout).trim();
    throw new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${res.code}: ${out.length > 800 ? '...' + out.slice(-800) : out}`);
  }
  return res;
}

/** The same, asynchronously (for parallel starts and cleanup). */
export function runAsync(cmd, args, { env, always = false } = {}) {
  checkInterrupted(always);
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', (e) => resolve({ code: 127, out: String(e) }));
    p.on('close', (code) => resolve({ code: code ?? 128, out }));
  });
}

/** Runs fn over items with at most n at a time; returns the results in order. */
export async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** Wall time in ms of an async function. */
export async function timeIt(fn) {
  const t0 = nowMs();
  await fn();
  return nowMs() - t0;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One command under hyperfine. shell: 'none' (-N, exec'd directly) or a shell path (hyperfine
 * subtracts the shell's own start time). prepare runs before every run, warmups included.
 * Returns { median, mean, min, max, runs } in ms, from hyperfine's exported JSON.
 */
export function hyperfine(command, { runs, warmup, prepare, cleanup, shell = 'none', env, jsonDir }) {
  const json = path.join(jsonDir, `hf-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
  // --show-output: the commands' output is kept (and dropped on success) so that a failure shows it.
  const args = ['--show-output', '--runs', String(runs), '--warmup', String(warmup), '--export-json', json];
  args.push(shell === 'none' ? '-N' : `--shell=${shell}`);
  if (prepare) args.push('--prepare', prepare);
  if (cleanup) args.push('--cleanup', cleanup);
  args.push(command);
  run('hyperfine', args, { env, timeout: 1_800_000 });
  const r = JSON.parse(fs.readFileSync(json, 'utf8')).results[0];
  fs.rmSync(json, { force: true });
  const ms = r.times.map((t) => t * 1000);
  return { median: median(ms), mean: r.mean * 1000, min: r.min * 1000, max: r.max * 1000, runs: ms.length };
}

/** `sh -c '<cmd>; exit 0'`, for hyperfine --prepare lines that must never fail. */
export const shQuiet = (cmd) => `sh -c '${cmd} >/dev/null 2>&1; exit 0'`;

/** Memory figures of one container: its memory cgroup (v1) and its monitor's RSS, in bytes. */
export function memoryOf(initPid, monitorPid) {
  const line = fs.readFileSync(`/proc/${initPid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:memory:/.test(l));
  if (!line) throw new Error(`no v1 memory cgroup for pid ${initPid}`);
  const dir = path.join('/sys/fs/cgroup/memory', line.split(':')[2]);
  const usage = Number(fs.readFileSync(path.join(dir, 'memory.usage_in_bytes'), 'utf8'));
  const stat = Object.fromEntries(
    fs.readFileSync(path.join(dir, 'memory.stat'), 'utf8').trim().split('\n').map((l) => l.split(' ')),
  );
  const rssKb = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${monitorPid}/status`, 'utf8'))?.[1];
  return { cgroup: dir, usage, cache: Number(stat.cache), rss: Number(stat.rss), monitorRss: Number(rssKb) * 1024 };
}

export function ppidOf(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * A v1 memory cgroup as a whole, sub-cgroups included (systemd makes init.scope, system.slice...
 * below LXC's payload cgroup): usage and memory.stat's hierarchical total_cache / total_rss, bytes.
 */
export function cgroupMemory(dir) {
  const stat = Object.fromEntries(
    fs.readFileSync(path.join(dir, 'memory.stat'), 'utf8').trim().split('\n').map((l) => l.split(' ')),
  );
  return {
    cgroup: dir,
    usage: Number(fs.readFileSync(path.join(dir, 'memory.usage_in_bytes'), 'utf8')),
    cache: Number(stat.total_cache),
    rss: Number(stat.total_rss),
  };
}

/** The v1 memory cgroup of a pid, as a path relative to the hierarchy's root ("/a/b"). */
export function memoryCgroupOf(pid) {
  const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:memory:/.test(l));
  if (!line) throw new Error(`no v1 memory cgroup for pid ${pid}`);
  return line.split(':')[2];
}

/** RSS and PSS of a process (smaps_rollup), bytes. */
export function rssPssOf(pid) {
  const t = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1]) * 1024;
  return { rss: kb('Rss'), pss: kb('Pss') };
}
