/** vzctl status / vzlist: what exists and runs, read from reality without taking locks. */
import type { Context } from '../context.js';
import { findContainer } from '../resolve.js';
import { probeRuntime, lastExit } from '../runtime-state.js';
import { isMountPoint, listMounts } from '../../sys/mounts.js';
import type { ContainerRow } from '../../state/types.js';

export interface CtStatus {
  ctid: number;
  exist: boolean;
  mounted: boolean;
  running: boolean;
  initPid?: number;
  monitorPid?: number;
  lastExit?: string;
}

export function containerStatus(ctx: Context, ctid: number, row = findContainer(ctx, ctid)): CtStatus {
  const p = ctx.paths(ctid);
  const probe = probeRuntime(p);
  return {
    ctid,
    exist: row !== undefined,
    mounted: isMountPoint(p.mount),
    running: probe.running,
    initPid: probe.running ? probe.initPid : undefined,
    monitorPid: probe.running ? probe.monitorPid : undefined,
    lastExit: row && !probe.running ? lastExit(p) : undefined,
  };
}

/** vzctl's status line, e.g. "CTID 101 exist mounted running". */
export function statusLine(s: CtStatus): string {
  return `CTID ${s.ctid} ${s.exist ? 'exist' : 'deleted'} ${s.mounted ? 'mounted' : 'unmounted'} ${s.running ? 'running' : 'down'}`;
}

export interface ListEntry {
  ctid: number;
  name: string;
  hostname: string;
  status: 'running' | 'stopped' | 'mounted';
  numproc: number | null;
  ostemplate: string;
  profile: string;
  description: string;
  onboot: boolean;
  uid_base: number;
  init_pid: number | null;
  created: string;
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
  return rows.map((row) => listEntry(ctx, row, mounts, db.getParams(row.ctid)));
}

function listEntry(ctx: Context, row: ContainerRow, mounts: Set<string>, params: Record<string, unknown>): ListEntry {
  const p = ctx.paths(row.ctid);
  const probe = probeRuntime(p);
  let numproc: number | null = null;
  if (probe.running) {
    try {
      numproc = ctx.cgroup(row.ctid).pids().length;
    } catch {
      numproc = null;
    }
  }
  return {
    ctid: row.ctid,
    name: row.name ?? '-',
    hostname: (params.hostname as string | undefined) ?? '-',
    status: probe.running ? 'running' : mounts.has(p.mount) ? 'mounted' : 'stopped',
    numproc,
    ostemplate: row.ostemplate,
    profile: row.profile ?? '-',
    description: (params.description as string | undefined) ?? '',
    onboot: params.onboot === true,
    uid_base: row.uidBase,
    init_pid: probe.running ? (probe.initPid ?? null) : null,
    created: row.createdAt,
  };
}
