const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Blocks the thread for a few ms. The synchronous parts (locks, cgroup and loop teardown) poll
 * the kernel in short waits; nothing else runs meanwhile in a CLI process.
 */
export function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
