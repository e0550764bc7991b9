/**
 * Can this container be checkpointed right now? (`vzctl suspend --check`, `vzmigrate --online
 * --dry-run`.) CRIU 4.1.1 has no dump "--check-only" (only zdtm, its test runner, has one), so:
 *   1. a scan of /proc for what CRIU is known to refuse, which names every offender (CRIU stops
 *      at the first): a task in a nested UTS/IPC/PID/user/cgroup/time namespace, a session
 *      whose leader is outside the container's pid namespace, the sysinfo(2) listener;
 *   2. unless the scan found a blocker that no CRIU gets past, CRIU itself decides: `criu dump --leave-running` with the
 *      real dump's arguments into a throw-away directory on tmpfs (removed after), its log
 *      mapped to "pid N (comm): reason". The tasks are stopped for as long as that dump takes
 *      (a busybox container: tens of ms) and run on after it; its images cost the container's
 *      memory on tmpfs for that time.
 * Nothing here changes the container.
 */
import fs from 'node:fs';
import path from 'node:path';
import { childProcess } from '../sys/childproc.js';
import { pidAlive, procComm } from '../sys/proc.js';
import { consoleKey, dumpArgs, externalMounts } from './criu.js';

export interface Blocker {
  pid: number;
  comm: string;
  /** The namespace kind, when a namespace is the cause. */
  ns?: string;
  reason: string;
  /**
   * False where the CRIU in use may do better than upstream 4.1.1 (nested UTS and IPC namespaces,
   * which a patched CRIU can dump, scripts/criu-patches): then the trial dump has the last word.
   */
  certain?: boolean;
}

export interface CheckResult {
  checkpointable: boolean;
  blockers: Blocker[];
  /** "scan" (found by the /proc scan) or "criu" (the trial dump's verdict). */
  by: 'scan' | 'criu';
  /** How long the trial dump took, ms (the tasks are stopped during part of it). */
  trialMs?: number;
}

/** Namespace kinds upstream CRIU cannot dump when a task inside has its own (mnt and net it can). */
export const NESTED_UNSUPPORTED = ['uts', 'ipc', 'pid', 'user', 'cgroup', 'time'];
/** Of those, the ones a patched CRIU may handle: found by the scan, decided by the trial dump. */
const NESTED_MAYBE = new Set(['uts', 'ipc']);

export function formatBlocker(b: Blocker): string {
  return `pid ${b.pid} (${b.comm}): ${b.reason}`;
}

function nsIno(pid: number, kind: string): number | undefined {
  try {
    return fs.statSync(`/proc/${pid}/ns/${kind}`).ino;
  } catch {
    return undefined;
  }
}

function nsPidDepth(pid: number): number {
  try {
    const m = /^NSpid:\s*(.+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? m[1]!.trim().split(/\s+/).length : 0;
  } catch {
    return 0;
  }
}

/**
 * Host pids of the container's tasks: its cgroup's and any in init's pid namespace (a task moved
 * out of the cgroup is still found), without host helpers that joined the cgroup (an exec's
 * helper stays in the host's pid namespace: fewer NSpid levels than init).
 */
function containerTasks(initPid: number, cgroupPids: number[]): number[] {
  const ino = nsIno(initPid, 'pid');
  const depth = nsPidDepth(initPid);
  const out = new Set(cgroupPids);
  for (const d of fs.readdirSync('/proc')) {
    if (/^\d+$/.test(d) && ino !== undefined && nsIno(Number(d), 'pid') === ino) out.add(Number(d));
  }
  out.delete(initPid);
  return [initPid, ...[...out].filter((p) => nsPidDepth(p) >= depth).sort((a, b) => a - b)];
}

function nsSid(pid: number): number | undefined {
  try {
    const m = /^NSsid:\s*(.+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    const levels = m?.[1]!.trim().split(/\s+/).map(Number);
    return levels?.[levels.length - 1];
  } catch {
    return undefined;
  }
}

/** The /proc scan (1. above). */
/** sysinfoListener: interception is on AND the CRIU in use cannot hand its listener back (criu-patches/0002). */
export function scanBlockers(initPid: number, cgroupPids: number[], sysinfoListener: boolean): Blocker[] {
  const out: Blocker[] = [];
  const comm = (p: number) => procComm(p) ?? '?';
  if (sysinfoListener) {
    out.push({ pid: initPid, comm: comm(initPid), certain: true, reason: 'sysinfo(2) interception is on and this CRIU cannot give its seccomp listener back after a restore: install vzkit\'s CRIU (sh scripts/criu.sh), or set "sysinfo_intercept: false" in vzkit.yaml and restart the container' });
  }
  const initNs = new Map(NESTED_UNSUPPORTED.map((k) => [k, nsIno(initPid, k)]));
  const initPidNs = initNs.get('pid');
  for (const pid of containerTasks(initPid, cgroupPids)) {
    if (!pidAlive(pid)) continue;
    for (const kind of NESTED_UNSUPPORTED) {
      const own = nsIno(pid, kind);
      if (own !== undefined && initNs.get(kind) !== undefined && own !== initNs.get(kind)) {
        out.push({ pid, comm: comm(pid), ns: kind, certain: !NESTED_MAYBE.has(kind), reason: `runs in a nested ${kind} namespace, which CRIU cannot checkpoint` });
      }
    }
    // In init's own pid namespace, sid 0 means the session leader is outside it.
    if (nsIno(pid, 'pid') === initPidNs && nsSid(pid) === 0) {
      out.push({ pid, comm: comm(pid), ns: 'pid', certain: true, reason: 'its session leader is outside the container\'s pid namespace (a process left by an exec without its own session): CRIU cannot checkpoint it' });
    }
  }
  return out;
}

/** CRIU's error lines (dump.log) as blockers; lines it does not know keep CRIU's words. */
export function blockersFromLog(log: string, initPid: number): Blocker[] {
  const out: Blocker[] = [];
  const comm = (p: number) => procComm(p) ?? '?';
  // The task being dumped when an error names none ("Dumping task (pid: N)" precedes its files).
  let current = 0;
  for (const raw of log.split('\n')) {
    const d = /Dumping task \(pid: (\d+)/.exec(raw);
    if (d) current = Number(d[1]);
    if (!/Error \(/.test(raw)) continue;
    const line = raw.replace(/^\([0-9. ]+\)\s*/, '').replace(/^Error \([^)]*\):\s*/, '').trim();
    let m: RegExpExecArray | null;
    if ((m = /Can't dump nested (\w+) namespace for (\d+)/.exec(line))) {
      const pid = Number(m[2]);
      out.push({ pid, comm: comm(pid), ns: m[1]!, reason: `runs in a nested ${m[1]} namespace, which CRIU cannot checkpoint` });
    } else if ((m = /session leader of (?:zombie process )?(\d+)\(\d+\) is outside of its pid namespace/.exec(line))) {
      const pid = Number(m[1]);
      out.push({ pid, comm: comm(pid), ns: 'pid', reason: 'its session leader is outside the container\'s pid namespace: CRIU cannot checkpoint it' });
    } else if (!/Dumping FAILED|RLIMIT_NOFILE|cgroupd: recv req error|Dump files \(pid: \d+\) failed/.test(line)) {
      // Which task: CRIU names it as "pid N", "task N" or "N" after a verb; else init stands for the whole.
      const p = /\b(?:pid|task|of|for)\s+(\d+)\b/.exec(line);
      const pid = p && pidAlive(Number(p[1])) ? Number(p[1]) : current && pidAlive(current) ? current : initPid;
      out.push({ pid, comm: comm(pid), reason: `criu: ${line}` });
    }
  }
  // CRIU repeats a cause on its way out: the first of each is enough; and once a cause is known,
  // the generic lines after it ("Can't make utsns id") are its echoes.
  const seen = new Set<string>();
  const once = out.filter((b) => (seen.has(formatBlocker(b)) ? false : (seen.add(formatBlocker(b)), true)));
  return once.some((b) => b.ns) ? once.filter((b) => b.ns) : once;
}

/** The trial dump (2. above). */
/** cgroupRoot: the container's cgroup as the host names it (/NODE/CTID): the same external mounts as the real dump. */
export function trialDump(criu: string, initPid: number, ctid: number, cgroupRoot: string): { ok: boolean; blockers: Blocker[]; ms: number } {
  // tmpfs: the images never reach a disk, and nothing is left behind.
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : '/tmp';
  const dir = fs.mkdtempSync(path.join(base, `vzkit-check-${ctid}-`));
  try {
    const args = dumpArgs({ initPid, dir, leaveRunning: true }, externalMounts(initPid, cgroupRoot), consoleKey(initPid));
    const t0 = performance.now();
    const r = childProcess().spawnSync(criu, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
    const ms = performance.now() - t0;
    if (r.status === 0) return { ok: true, blockers: [], ms };
    let log = '';
    try {
      log = fs.readFileSync(path.join(dir, 'dump.log'), 'utf8');
    } catch {}
    const blockers = blockersFromLog(log, initPid);
    if (!blockers.length) blockers.push({ pid: initPid, comm: procComm(initPid) ?? '?', reason: `criu dump failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()}` });
    return { ok: false, blockers, ms };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function checkCheckpointable(criu: string, o: { ctid: number; initPid: number; cgroupPids: number[]; sysinfoListener: boolean; cgroupRoot: string }): CheckResult {
  const found = scanBlockers(o.initPid, o.cgroupPids, o.sysinfoListener);
  // A certain blocker: CRIU would refuse too, and a trial would only stop the tasks for nothing.
  if (found.some((b) => b.certain)) return { checkpointable: false, blockers: found, by: 'scan' };
  const t = trialDump(criu, o.initPid, o.ctid, o.cgroupRoot);
  if (t.ok) return { checkpointable: true, blockers: [], by: 'criu', trialMs: t.ms };
  // CRIU stops at its first blocker: the scan's others follow it, each once.
  const key = (b: Blocker) => `${b.pid} ${b.ns ?? ''}`;
  const named = new Set(t.blockers.map(key));
  return { checkpointable: false, blockers: [...t.blockers, ...found.filter((b) => !named.has(key(b)))], by: 'criu', trialMs: t.ms };
}

/** The scan's blockers that no CRIU gets past: a real migration refuses on these before it starts. */
export function certainBlockers(initPid: number, cgroupPids: number[], sysinfoListener: boolean): Blocker[] {
  return scanBlockers(initPid, cgroupPids, sysinfoListener).filter((b) => b.certain);
}
