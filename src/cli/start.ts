import { ctidVerb } from './verb.js';

export const start = ctidVerb('start', 'Start a container (its own init as PID 1)', async (svc, ctid) => {
  const res = await svc.start(ctid);
  return { running: true, init_pid: res.initPid, monitor_pid: res.monitorPid, spawn_ms: res.spawnMs };
});
