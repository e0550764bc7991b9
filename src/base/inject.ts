/**
 * The test switches, in one place: crash points and injected faults. Unset, each costs one
 * environment lookup; nothing else in vzkit reads a VZKIT_CRASH_* or VZKIT_INJECT_* variable.
 *
 * Named crash points for the crash-consistency harness (test/integration/crash.test.ts): every
 * step an operation registers with its Reverter, and the points marked in operations that have
 * none (stop, destroy), is a place where vzctl may die. With VZKIT_CRASH_LIST=1 each point is
 * announced on stderr as it is passed; VZKIT_CRASH_AT=N kills the process with SIGKILL right
 * after the Nth point (N counts from 1), as a power cut or an OOM kill would.
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

/**
 * Injected faults (the migration tests): VZKIT_INJECT_RESTORE_FAIL makes the CRIU network hook of
 * a restore fail, VZKIT_INJECT_START_FAIL the start on DEST of an offline migration. vzmigrate
 * passes them on to DEST in its request, where receive sets them again for its own process.
 */
export type Fault = 'RESTORE_FAIL' | 'START_FAIL';

export function injected(fault: Fault): boolean {
  return Boolean(process.env[`VZKIT_INJECT_${fault}`]);
}

export function inject(fault: Fault): void {
  process.env[`VZKIT_INJECT_${fault}`] = '1';
}
