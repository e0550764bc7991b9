/** Every host path that belongs to one container, derived from the global config. */
import path from 'node:path';
import type { GlobalConfig } from '../config/global.js';

export interface CtPaths {
  private: string;
  mount: string;
  pidfile: string;
  socket: string;
  statusfile: string;
  lock: string;
  consoleLog: string;
  monitorLog: string;
  devnodes: string; // private device nodes for --devnodes
  loadavg: string; // the monitor's load average samples
}

export function ctPaths(cfg: GlobalConfig, ctid: number): CtPaths {
  const p = cfg.paths;
  return {
    private: path.join(p.private, String(ctid)),
    mount: path.join(p.mounts, String(ctid)),
    pidfile: path.join(p.run, `${ctid}.pid`),
    socket: path.join(p.run, `${ctid}.sock`),
    statusfile: path.join(p.run, `${ctid}.status`),
    lock: path.join(p.locks, `${ctid}.lck`),
    consoleLog: path.join(p.logs, `${ctid}.console.log`),
    monitorLog: path.join(p.logs, `${ctid}.monitor.log`),
    devnodes: path.join(path.dirname(p.run), 'dev', String(ctid)),
    loadavg: path.join(p.run, `${ctid}.loadavg`),
  };
}
