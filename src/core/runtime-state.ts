/**
 * What is really running, read from the pidfile the monitor writes and from /proc. The state
 * database records intent and history; this is the truth that every command reconciles with.
 */
import fs from 'node:fs';
import { pidAlive, procComm } from '../sys/proc.js';
import type { CtPaths } from './paths.js';

export interface RuntimeProbe {
  running: boolean;
  monitorPid?: number;
  initPid?: number;
  /** A pidfile remains but its processes are gone: the monitor died without cleaning up. */
  stale: boolean;
}

export function probeRuntime(p: CtPaths): RuntimeProbe {
  let text: string;
  try {
    text = fs.readFileSync(p.pidfile, 'utf8');
  } catch {
    return { running: false, stale: false };
  }
  const [m, i] = text.trim().split(/\s+/).map(Number);
  const monitorPid = m && m > 0 ? m : undefined;
  const initPid = i && i > 0 ? i : undefined;
  const monitorUp = monitorPid !== undefined && pidAlive(monitorPid) && procComm(monitorPid) === 'ctspawn';
  const initUp = initPid !== undefined && pidAlive(initPid);
  if (monitorUp && initUp) return { running: true, monitorPid, initPid, stale: false };
  // The monitor may still be finishing its post-stop cleanup: not running, not stale yet.
  return { running: false, monitorPid, initPid, stale: !monitorUp };
}

/** Last known end of init, written by the monitor ("exited N" / "killed SIGNAL"). */
export function lastExit(p: CtPaths): string | undefined {
  try {
    return fs.readFileSync(p.statusfile, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
