/**
 * Journals of interrupted operations. An operation that leaves a container in a state that is
 * not its own while it works (vzmigrate: checkpointed tasks; vzdump --mode stop: a running
 * container halted) writes run/CTID.KIND before and removes it when done. When it is killed
 * (SIGKILL, OOM, power cut) the journal stays, and the next locked operation on the container
 * hands it to the recovery the owning module registered here, before doing its own work.
 * Core knows no kinds: migrate and backup register theirs (layers point down), and every
 * command entry point imports the registrations (src/cli/recoveries.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from './context.js';

/**
 * What the operation about to run wants of the container, so a recovery does not undo it:
 * after a killed `vzdump --mode stop`, `vzctl stop` means "leave it stopped", and `vzctl start`
 * starts it itself.
 */
export type Wants = 'running' | 'stopped';

export interface Recovery {
  /** The journal's file name suffix: run/CTID.KIND. */
  kind: string;
  /** Called under the container's lock when its journal exists; removes the journal when done. */
  recover(ctx: Context, ctid: number, o: { wants?: Wants }): void | Promise<void>;
}

const registry = new Map<string, Recovery>();

export function registerRecovery(r: Recovery): void {
  registry.set(r.kind, r);
}

export function registeredKinds(): string[] {
  return [...registry.keys()];
}

export function journalFile(ctx: Context, ctid: number, kind: string): string {
  return path.join(ctx.cfg.paths.run, `${ctid}.${kind}`);
}

/** Writes a journal atomically (a crash leaves the old one or the new one, never half of one). */
export function writeJournalFile(ctx: Context, ctid: number, kind: string, data: unknown): void {
  const p = journalFile(ctx, ctid, kind);
  fs.writeFileSync(`${p}.tmp`, JSON.stringify(data), { mode: 0o600 });
  fs.renameSync(`${p}.tmp`, p);
}

export function readJournalFile<T>(ctx: Context, ctid: number, kind: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(journalFile(ctx, ctid, kind), 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export function removeJournalFile(ctx: Context, ctid: number, kind: string): void {
  fs.rmSync(journalFile(ctx, ctid, kind), { force: true });
}

/** Runs the recovery of every journal the container has. The caller holds its lock. */
export async function recoverPending(ctx: Context, ctid: number, o: { wants?: Wants } = {}): Promise<void> {
  for (const r of registry.values()) {
    if (fs.existsSync(journalFile(ctx, ctid, r.kind))) await r.recover(ctx, ctid, o);
  }
}

/** The CTIDs that have a journal of a registered kind (vzd recovers them all when it starts). */
export function pendingCtids(ctx: Context): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(ctx.cfg.paths.run);
  } catch {
    return [];
  }
  const out = new Set<number>();
  for (const f of names) {
    const m = /^(\d+)\.([a-z]+)$/.exec(f);
    if (m && registry.has(m[2]!)) out.add(Number(m[1]));
  }
  return [...out].sort((a, b) => a - b);
}
