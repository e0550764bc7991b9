import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { VzError } from '../../../src/base/errors.js';
import type { ErrorCodeName } from '../../../src/base/errors.js';

/** Runs fn, expects a VzError with this code, and returns it for message checks. */
export function vzError(fn: () => unknown, code: ErrorCodeName, message?: string | RegExp): VzError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VzError);
    const err = e as VzError;
    expect(err.code, err.message).toBe(code);
    if (typeof message === 'string') expect(err.message).toContain(message);
    else if (message) expect(err.message).toMatch(message);
    return err;
  }
  throw new Error(`expected VzError ${code}, nothing was thrown`);
}

const made: string[] = [];

/** Removes every directory tmpTree made; call from afterAll. */
export function cleanupTmp(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A fresh temporary directory with the given files (relative path -> content). */
export function tmpTree(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'vzkit-config-'));
  made.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}
