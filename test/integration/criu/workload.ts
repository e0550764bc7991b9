/** The CRIU tests' workload in a busybox container: a counter every 100 ms and 64 MiB with a checksum. */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { REPO, waitFor, type TestNode } from '../harness.js';

let binary: string | undefined;

/** Built once per test process, static, so it runs in a busybox root. */
export function workloadBinary(): string {
  if (binary) return binary;
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vzkit-workload-')), 'workload');
  const r = spawnSync('gcc', ['-static', '-O2', '-o', out, path.join(REPO, 'test/integration/criu/workload.c')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc: ${r.stderr}`);
  return (binary = out);
}

export function removeWorkloadBinary(): void {
  if (binary) fs.rmSync(path.dirname(binary), { recursive: true, force: true });
  binary = undefined;
}

/** Installs the workload into a stopped container's private area; init starts it (inittab). */
export function installWorkload(n: TestNode, ctid: number, mib = 64): void {
  const priv = path.join(n.root, 'private', String(ctid));
  const st = fs.statSync(priv);
  fs.copyFileSync(workloadBinary(), path.join(priv, 'workload'));
  fs.chmodSync(path.join(priv, 'workload'), 0o755);
  const inittab = path.join(priv, 'etc/inittab');
  fs.appendFileSync(inittab, `::once:/workload counter /counter.log\n::once:/workload mem /memsum ${mib}\n`);
  fs.chownSync(inittab, st.uid, st.gid);
}

/** Counter lines [n, ms] as the container wrote them. */
export function counter(n: TestNode, ctid: number): Array<[number, number]> {
  const r = n.vzctl('exec', String(ctid), 'cat', '/counter.log');
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split(' ').map(Number) as [number, number]);
}

/** The checksum line "SUM PID" recomputed from memory now. */
export function memsum(n: TestNode, ctid: number): { sum: string; pid: number } {
  const before = n.vzctl('exec', String(ctid), 'cat', '/memsum').stdout;
  const pid = Number(before.trim().split(' ')[1]);
  n.vzctl('exec', String(ctid), 'sh', '-c', `rm -f /memsum; kill -USR1 ${pid}`);
  let line = '';
  waitFor(() => (line = n.vzctl('exec', String(ctid), 'cat', '/memsum').stdout.trim()).length > 0, 10_000);
  const [sum, p] = line.split(' ');
  return { sum: sum!, pid: Number(p) };
}

/** PIDs inside with their commands, from the container's own ps. */
export function pids(n: TestNode, ctid: number): string[] {
  return n
    .vzctl('exec', String(ctid), 'ps', '-o', 'pid,args')
    .stdout.split('\n')
    .slice(1)
    .filter((l) => /workload|init/.test(l))
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .sort();
}

/** Waits until the workload has written its first lines. */
export function waitWorkload(n: TestNode, ctid: number): void {
  if (!waitFor(() => counter(n, ctid).length >= 3 && n.vzctl('exec', String(ctid), 'cat', '/memsum').stdout.trim() !== '', 20_000)) {
    throw new Error('the workload did not start');
  }
}

/** The largest gap between consecutive counter lines in ms, and whether n ever reset or skipped. */
export function counterGaps(lines: Array<[number, number]>): { maxGapMs: number; continuous: boolean } {
  let maxGapMs = 0;
  let continuous = true;
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]![0] !== lines[i - 1]![0] + 1) continuous = false;
    maxGapMs = Math.max(maxGapMs, lines[i]![1] - lines[i - 1]![1]);
  }
  return { maxGapMs, continuous };
}
