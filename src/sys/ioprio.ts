/** ioprio_set(2): a task's I/O scheduling class and level (<linux/ioprio.h>). */
import { getLibc } from './libc.js';

export const SYS_ioprio_set = 251; // x86_64
export const IOPRIO_WHO_PROCESS = 1;
export const IOPRIO_CLASS_BE = 2;
export const IOPRIO_CLASS_SHIFT = 13;

/** The best-effort class at `level` (0 highest .. 7 lowest) for one task; returns 0 or the errno. */
export function setBestEffortIoPrio(pid: number, level: number): number {
  const libc = getLibc();
  const r = Number(libc.syscall(SYS_ioprio_set, 'int', IOPRIO_WHO_PROCESS, 'int', pid, 'int', (IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT) | level));
  return r < 0 ? libc.errno() : 0;
}
