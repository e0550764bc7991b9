/**
 * Stage "stop source" (online): DEST runs it now, so the stopped tasks here go, and with them the
 * host side (monitor, mounts, cgroups, network).
 */
import { cleanupRuntime } from '../../src/core/cleanup.js';
import { pidAlive } from '../../src/sys/proc.js';
import { sleepMs } from '../../src/sys/sleep.js';
import type { Stage } from '../stages.js';
import type { Migration } from './migration.js';

export function stopSource(m: Migration): Stage {
  const { ctx, ctid, probe } = m;
  const initPid = m.initPid();
  return {
    name: 'stop source',
    run: async () => {
      // It runs on DEST now: the stopped tasks here go, and with them the host side.
      const db = ctx.db();
      db.setState(ctid, 'stopping', 'migrated out (online)');
      for (const pid of [initPid]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      for (let i = 0; i < 2000 && probe.monitorPid && pidAlive(probe.monitorPid); i++) sleepMs(5);
      cleanupRuntime(ctx, ctid, { unmount: true });
      db.setState(ctid, 'stopped', 'migrated out (online)');
    },
  };
}
