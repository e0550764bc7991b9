import fs from 'node:fs';
/** vzctl status / vzlist: what exists and runs, read from reality without taking locks. */
import type { Context } from '../context.js';
import { findContainer } from '../resolve.js';
import { probeRuntime, lastExit } from '../runtime-state.js';
import { isMountPoint, listMounts } from '../../sys/mounts.js';
import type { ContainerRow } from '../../state/types.js';
import type { QuotaReport } from '../disk.js';
import { currentAddresses } from '../apply-net.js';
import { showFeatures } from '../../config/features.js';
import { readStored } from '../stored.js';
import type { CtParams } from '../../config/params.js';

export interface CtStatus {
  ctid: number;
  exist: boolean;
  mounted: boolean;
  running: boolean;
  init_pid?: number;
  monitor_pid?: number;
  last_exit?: string;
  /** Checkpointed to disk by vzctl suspend, waiting for resume. */
  suspended?: boolean;
}

export function containerStatus(ctx: Context, ctid: number, row = findContainer(ctx, ctid)): CtStatus {
  const p = ctx.paths(ctid);
  const probe = probeRuntime(p);
  return {
    ctid,
    exist: row !== undefined,
    mounted: isMountPoint(p.mount),
    running: probe.running,
    init_pid: probe.running ? probe.initPid : undefined,
    monitor_pid: probe.running ? probe.monitorPid : undefined,
    last_exit: row && !probe.running ? lastExit(p) : undefined,
    ...(row?.state === 'suspended' && !probe.running ? { suspended: true } : {}),
  };
}

/** vzctl's status line, e.g. "CTID 101 exist mounted running". */
export function statusLine(s: CtStatus): string {
  return `CTID ${s.ctid} ${s.exist ? 'exist' : 'deleted'} ${s.mounted ? 'mounted' : 'unmounted'} ${s.running ? 'running' : s.suspended ? 'suspended' : 'down'}`;
}

export interface ListEntry {
  ctid: number;
  name: string | null;
  hostname: string | null;
  status: 'running' | 'stopped' | 'mounted' | 'suspended';
  numproc: number | null;
  ostemplate: string;
  profile: string | null;
  description: string;
  onboot: boolean;
  uid_base: number;
  init_pid: number | null;
  created: string;
  /** Limits as stored (null = unlimited) and usage from the cgroup while running. */
  ram: number | null;
  swap: number | null;
  cpus: number | null;
  cpulimit: number | null;
  cpuunits: number;
  cpumask: string | null;
  numproc_l: number | null;
  usage: CtUsage | null;
  layout: string;
  /** Features as stored (vzctl --features), e.g. "nesting:on"; "-" when none is set. */
  features: string;
  /** IP addresses: the live ones while running, else the stored ones. */
  ip: string[];
  /** Disk usage and limits, filled in only when asked for (vzlist disk fields). */
  disk?: QuotaReport;
}

export interface CtUsage {
  laverage: [number, number, number] | null; // the monitor's 1, 5 and 15 min load averages
  physpages: number; // 4 KiB pages charged, page cache included (vzlist's physpages)
  swappages: number;
  ram_failcnt: number; // how often the memory limit was hit
  oom_kills: number;
  numproc_failcnt: number; // forks refused by the process limit
  cpu_us: number;
}

/** One container's list entry (limits and usage), for `vzctl status --json`. */
export function containerDetails(ctx: Context, ctid: number): ListEntry | undefined {
  const db = ctx.dbIfExists();
  const row = db?.getContainer(ctid);
  if (!db || !row || row.state === 'creating') return undefined;
  const mounts = new Set(listMounts().map((m) => m.mountPoint));
  return listEntry(ctx, row, mounts, readStored(db, ctid).params);
}

export function listContainers(ctx: Context): ListEntry[] {
  const db = ctx.dbIfExists();
  if (!db) return [];
  const mounts = new Set<string>();
  const rows = db.listContainers().filter((r) => r.state !== 'creating');
  if (rows.length) {
    // One read of the mount table for all containers.
    for (const m of listMounts()) mounts.add(m.mountPoint);
  }
  return rows.map((row) => listEntry(ctx, row, mounts, readStored(db, row.ctid).params));
}

function listEntry(ctx: Context, row: ContainerRow, mounts: Set<string>, params: CtParams): ListEntry {
  const p = ctx.paths(row.ctid);
  const probe = probeRuntime(p);
  let numproc: number | null = null;
  let usage: CtUsage | null = null;
  if (probe.running) {
    try {
      const st = ctx.cgroup(row.ctid).stats();
      numproc = st.pidsCurrent;
      usage = {
        physpages: Math.round(st.memoryCurrent / 4096),
        swappages: Math.round((st.swapCurrent ?? 0) / 4096),
        ram_failcnt: st.memoryFailcnt ?? 0,
        oom_kills: st.oomKills ?? 0,
        numproc_failcnt: st.pidsFailcnt ?? 0,
        cpu_us: st.cpuUsageUs,
        laverage: readLoadavg(ctx.paths(row.ctid).loadavg),
      };
    } catch {
      numproc = null;
    }
  }
  const lim = (k: 'ram' | 'cpus' | 'cpulimit' | 'numproc') => params[k] ?? null;
  return {
    ctid: row.ctid,
    name: row.name,
    hostname: params.hostname ?? null,
    status: probe.running ? 'running' : row.state === 'suspended' ? 'suspended' : mounts.has(p.mount) ? 'mounted' : 'stopped',
    numproc,
    ostemplate: row.ostemplate,
    profile: row.profile,
    description: params.description ?? '',
    onboot: params.onboot === true,
    uid_base: row.uidBase,
    init_pid: probe.running ? (probe.initPid ?? null) : null,
    created: row.createdAt,
    ram: lim('ram'),
    swap: params.ram === undefined || params.ram === null ? null : (params.swap ?? 0),
    cpus: lim('cpus'),
    cpulimit: lim('cpulimit'),
    cpuunits: params.cpuunits ?? 1000,
    cpumask: params.cpumask ?? null,
    numproc_l: lim('numproc'),
    usage,
    layout: params.layout ?? 'dir',
    features: showFeatures(params.features),
    ip: currentAddresses(ctx, row.ctid, probe.running, params),
  };
}

/** "0.52 0.21 0.08 1/7" as written by the monitor every 5 s; null before its first sample. */
function readLoadavg(file: string): [number, number, number] | null {
  try {
    const [a, b, c] = fs.readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    return [a, b, c].every((x) => Number.isFinite(x)) ? [a!, b!, c!] : null;
  } catch {
    return null;
  }
}
