/** pids.max / pids.current / pids.events are identical in v1 and v2. */
export { applyPids, pidsStats } from '../v1/pids.js';
