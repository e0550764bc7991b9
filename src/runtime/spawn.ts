/**
 * Starts a container through native/ctspawn and walks the protocol's stages strictly:
 * config -> spawned -> (cgroups) go -> running -> detach. The helper then stays as the monitor.
 */
import fs from 'node:fs';
import { childProcess } from '../sys/childproc.js';
import type { Duplex } from 'node:stream';
import { decode, encode, LineSplitter, STAGE_NAMES, Stage, type HelperMessage, type SpawnConfig } from './protocol.js';
import { VzError } from '../base/errors.js';
import { errnoName } from '../base/errno.js';
import { rootIds, unreachableHint } from './reach.js';

export interface StartResult {
  monitorPid: number;
  initPid: number;
  /** The container part of a start: from spawning the helper to init running, in ms. */
  spawnMs: number;
}

export interface StartOptions {
  helper: string;
  /** "restore": init comes back from a CRIU dump (protocol.h, RESTORE); stage 2 names criu's pid. */
  subcommand?: 'start' | 'restore';
  config: SpawnConfig;
  monitorLog: string;
  ctid: number;
  /** Stage 3: put the still-waiting init into the container's cgroups. */
  joinCgroups(pid: number): void;
  /** Still stage 3, after the cgroups: e.g. the network, configured before init runs. */
  beforeGo?(pid: number): void | Promise<void>;
  timeoutMs?: number;
}

export function startWithHelper(o: StartOptions): Promise<StartResult> {
  const t0 = performance.now();
  const logFd = fs.openSync(o.monitorLog, 'a', 0o600);
  let child;
  try {
    child = childProcess().spawn(o.helper, [o.subcommand ?? 'start'], { detached: true, stdio: ['ignore', 'ignore', logFd, 'pipe'] });
  } finally {
    fs.closeSync(logFd);
  }
  const chan = child.stdio[3] as Duplex;
  chan.setEncoding('utf8');
  const lines = new LineSplitter();
  let stage: number = Stage.CONFIG;
  let initPid = 0;

  return new Promise<StartResult>((resolve, reject) => {
    let done = false;
    const fail = (e: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      chan.destroy(); // EOF before "detach" makes the helper abort and clean up
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new VzError('ENVCREATE', `start timed out in stage "${STAGE_NAMES[stage]}"`, { ctid: o.ctid })),
      o.timeoutMs ?? 30_000,
    );
    const handle = (m: HelperMessage) => {
      if (m.t === 'log') return;
      if (m.t === 'error') {
        const what = STAGE_NAMES[m.stage] ?? `stage ${m.stage}`;
        const err = m.errno ? `: ${errnoName(m.errno)}` : '';
        let hint: string | undefined;
        if (errnoName(m.errno ?? 0) === 'EACCES') {
          const { uid, gid } = rootIds(o.config.uid_map, o.config.gid_map);
          hint = unreachableHint(o.config.rootfs, uid, gid);
        }
        return fail(new VzError(m.stage === Stage.RUNNING ? 'BAD_INIT' : 'ENVCREATE', `start failed in ${what}: ${m.msg}${err}`, { ctid: o.ctid, hint }));
      }
      if (process.env.VZKIT_TIMING) process.stderr.write(`spawn: ${m.t} at ${(performance.now() - t0).toFixed(2)} ms\n`);
      if (stage === Stage.CONFIG && m.t === 'spawned') {
        initPid = m.pid;
        stage = Stage.CGROUP;
        try {
          o.joinCgroups(m.pid);
        } catch (e) {
          return fail(e as Error);
        }
        if (process.env.VZKIT_TIMING) process.stderr.write(`spawn: cgroups joined at ${(performance.now() - t0).toFixed(2)} ms\n`);
        const go = () => {
          if (done) return;
          if (process.env.VZKIT_TIMING) process.stderr.write(`spawn: go at ${(performance.now() - t0).toFixed(2)} ms\n`);
          chan.write(encode({ t: 'go' }));
          stage = Stage.SETUP;
        };
        if (!o.beforeGo) return go();
        Promise.resolve()
          .then(() => o.beforeGo!(m.pid))
          .then(go, (e) => fail(e as Error));
        return;
      }
      if (stage === Stage.SETUP && m.t === 'running' && (m.pid === initPid || o.subcommand === 'restore')) {
        initPid = m.pid;
        stage = Stage.DETACH;
        chan.end(encode({ t: 'detach' }));
        done = true;
        clearTimeout(timer);
        child.unref();
        chan.destroy();
        return resolve({ monitorPid: child.pid!, initPid, spawnMs: Math.round((performance.now() - t0) * 100) / 100 });
      }
      fail(new VzError('SYSTEM', `protocol violation: "${m.t}" in stage "${STAGE_NAMES[stage]}"`, { ctid: o.ctid }));
    };
    chan.on('data', (chunk: string) => {
      try {
        for (const line of lines.push(chunk)) handle(decode(line));
      } catch (e) {
        fail(new VzError('SYSTEM', (e as Error).message, { ctid: o.ctid }));
      }
    });
    chan.on('error', (e) => fail(new VzError('SYSTEM', `helper channel: ${e.message}`, { ctid: o.ctid })));
    chan.on('close', () => fail(new VzError('ENVCREATE', `helper exited in stage "${STAGE_NAMES[stage]}" (see ${o.monitorLog})`, { ctid: o.ctid })));
    child.on('error', (e) => fail(new VzError('SYSTEM', `cannot run ${o.helper}: ${e.message}`, { ctid: o.ctid })));
    chan.write(encode({ t: 'config', ...o.config }));
  });
}
