/**
 * vzmigrate: moves a container to DEST over SSH, offline (stop, copy, start there) or online
 * (copy while running, freeze and dump with the pages streamed to a CRIU page server on DEST,
 * copy the rest of the dump and what changed, restore there). Every step is a stage
 * {name, run, undo} (stages.ts); a failure undoes in reverse order, so the container keeps (or
 * goes back to) running here with its data and addresses, and DEST keeps nothing.
 *
 * Pre-dumps (p.haul's iterative rounds) need memory tracking (soft-dirty), which these kernels
 * lack: when `criu check --feature mem_dirty_track` fails, they are skipped (said in the log).
 *
 * Each stage is a file of its own in stages/, sharing one Migration (stages/migration.ts); what
 * goes to DEST and back is typed in protocol.ts.
 */
import fs from 'node:fs';
import type { Context } from '../src/core/context.js';
import { withLock } from '../src/core/lock.js';
import { removeJournal, writeJournal } from './journal.js';
import { runStages, type Stage, type StageTiming } from './stages.js';
import { remoteCommand } from './resolve.js';
import { Migration } from './stages/migration.js';
import { preflight } from './stages/preflight.js';
import { mountImageOnDest, register } from './stages/register.js';
import { mapUids } from './stages/map-uids.js';
import { copyFiles } from './stages/copy-files.js';
import { stopHere, syncRest } from './stages/restart.js';
import { pageServer } from './stages/page-server.js';
import { freezeAndDump } from './stages/dump.js';
import { restoreOnDest } from './stages/restore.js';
import { stopSource } from './stages/stop-source.js';
import { startOnDest } from './stages/start-dest.js';
import { removeSource } from './stages/remove-source.js';

export interface MigrateOptions {
  dest: string;
  ctid: number;
  online: boolean;
  /**
   * Restart mode (--restart; OpenVZ's vzmigrate without --live does the same for a running
   * container): copy while it runs, stop, sync the rest, start on DEST.
   */
  restart?: boolean;
  /** -r no: keep the (stopped) container here afterwards. */
  removeSource: boolean;
  keepDst: boolean;
  sshOpts: string[];
  dryRun: boolean;
  /** Fault injection for the tests: the restore on DEST fails in its network step. */
  injectRestoreFail?: boolean;
  /** Fault injection for the tests: the start on DEST fails (restart mode, offline). */
  injectStartFail?: boolean;
  /** Called when a stage begins (tests cut the connection at a given stage). */
  onStage?: (name: string) => void;
}

export interface MigrateResult {
  timings: StageTiming[];
  frozenMs?: number;
  /** Inside the frozen window: when each step ended, in ms from the freeze (vzmigrate -t). */
  frozenSteps?: StageTiming[];
  /** Restart mode: from the stop here to running on DEST. */
  downtimeMs?: number;
  online: boolean;
  notes: string[];
}

export async function migrate(ctx: Context, o: MigrateOptions): Promise<MigrateResult> {
  return withLock(ctx, o.ctid, () => migrateLocked(ctx, o));
}

/** The stages of this migration, in order (each one's file says what it does and undoes). */
function stagesOf(m: Migration): Stage[] {
  const stages: Stage[] = [preflight(m), register(m)];
  if (m.tree) stages.push(mountImageOnDest(m, m.tree));
  if (m.online && (m.ctx.storage(m.ctid).caps.tree || m.tree)) stages.push(mapUids(m));
  stages.push(copyFiles(m));
  if (m.restart) stages.push(stopHere(m), syncRest(m));
  if (m.online) stages.push(pageServer(m), freezeAndDump(m), restoreOnDest(m), stopSource(m));
  else stages.push(startOnDest(m));
  if (m.o.removeSource) stages.push(removeSource(m));
  return stages;
}

async function migrateLocked(ctx: Context, o: MigrateOptions): Promise<MigrateResult> {
  const { ctid } = o;
  const m = new Migration(ctx, o);
  const { ssh, localDump, online, notes } = m;
  const stages = stagesOf(m);

  if (o.dryRun) {
    try {
      await runStages(stages.slice(0, 1), ctx.warn);
    } finally {
      ssh.close();
      fs.rmSync(localDump, { recursive: true, force: true });
    }
    notes.push(`dry run: stages would be ${stages.map((s) => s.name).join(', ')}`);
    return { timings: [], online, notes };
  }
  // Killed from here on, the next operation on the container finishes the source side (journal.ts).
  writeJournal(ctx, ctid, { pid: process.pid, dest: o.dest, sshOpts: o.sshOpts, remote: remoteCommand(), keepDst: o.keepDst, tmp: [localDump, ssh.dir], control: ssh.control });
  try {
    const res = await runStages(stages, ctx.warn, o.onStage);
    const { frozenMs, frozenSteps, downtimeMs } = m;
    return { timings: res.timings, frozenMs, ...(frozenSteps.length ? { frozenSteps } : {}), downtimeMs, online, notes };
  } finally {
    try {
      m.unview();
    } catch (e) {
      ctx.warn(`the idmapped view ${m.viewDir}: ${(e as Error).message}`);
    }
    // In doubt, the question stays for the next command on the container (journal.ts).
    if (!m.inDoubt) removeJournal(ctx, ctid);
    ssh.close();
    fs.rmSync(localDump, { recursive: true, force: true });
  }
}
