/**
 * Named crash points for the crash-consistency harness (test/integration/crash.test.ts): every
 * step an operation registers with its Reverter, and the points marked in operations that have
 * none (stop, destroy), is a place where vzctl may die. With VZKIT_CRASH_LIST=1 each point is
 * announced on stderr as it is passed; VZKIT_CRASH_AT=N kills the process with SIGKILL right
 * after the Nth point (N counts from 1), as a power cut or an OOM kill would. Unset, both cost
 * one environment lookup.
 */
let passed = 0;

export function crashPoint(name: string): void {
  const list = process.env.VZKIT_CRASH_LIST;
  const at = process.env.VZKIT_CRASH_AT;
  if (!list && !at) return;
  passed++;
  if (list) process.stderr.write(`vzkit-crash-point ${passed} ${name}\n`);
  if (at && Number(at) === passed) process.kill(process.pid, 'SIGKILL');
}
