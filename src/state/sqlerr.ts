import Database from 'better-sqlite3';
import { VzError } from '../base/errors.js';

/** The extended SQLite result code (e.g. 'SQLITE_CONSTRAINT_UNIQUE'), or undefined for other errors. */
export function sqliteCode(e: unknown): string | undefined {
  return e instanceof Database.SqliteError ? e.code : undefined;
}

/**
 * Turns a raw SqliteError into a VzError a user can read; anything else passes through.
 * Constraint failures a user can cause are mapped closer to the query (see db.ts); here they
 * only land if unexpected, so they stay SYSTEM.
 */
export function toVzError(e: unknown, file: string, ctid?: number): unknown {
  const code = sqliteCode(e);
  if (code === undefined) return e;
  const msg = (e as Error).message;
  const base = { ctid, cause: e };
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new VzError('LOCKED', `state database ${file} is busy: another vzkit process holds it`, {
      ...base,
      hint: 'retry; if it persists, look for a hung vzkit process',
    });
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new VzError('SYSTEM', `state database ${file} is damaged: ${msg}`, { ...base, hint: 'restore it from a backup' });
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new VzError('SYSTEM', `state database ${file} is read-only here: ${msg}`, base);
  }
  return new VzError('SYSTEM', `state database ${file}: ${msg}`, base);
}
