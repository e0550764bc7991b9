/** A container's stored config as the core reads it: parameters typed by the table, the node's own keys apart. */
import type { StateDb } from '../state/db.js';
import { splitStored, type StoredConfig } from '../config/templates.js';

export function readStored(db: StateDb, ctid: number): StoredConfig {
  return splitStored(db.getParams(ctid));
}
