/**
 * An undo list for multi-step operations (Incus's revert): each step that changes the world
 * registers how to take it back; on failure everything registered runs in reverse order.
 */
import { crashPoint } from '../base/inject.js';

export class Reverter {
  private undos: Array<{ what: string; fn: () => void | Promise<void> }> = [];

  add(what: string, fn: () => void | Promise<void>): void {
    this.undos.push({ what, fn });
    crashPoint(what); // the step is done and its undo known: a place where vzctl may die
  }

  /** The operation succeeded: forget the undo steps. */
  commit(): void {
    this.undos = [];
  }

  /** Runs every undo step, newest first; failures are reported, not thrown, so all steps run. */
  async revert(log: (msg: string) => void = () => {}): Promise<void> {
    for (const u of this.undos.reverse()) {
      try {
        await u.fn();
      } catch (e) {
        log(`undo "${u.what}" failed: ${(e as Error).message}`);
      }
    }
    this.undos = [];
  }
}

/** Runs `body` with a Reverter; reverts on throw and rethrows the original error. */
export async function withRevert<T>(body: (r: Reverter) => Promise<T> | T, log?: (msg: string) => void): Promise<T> {
  const r = new Reverter();
  try {
    const out = await body(r);
    r.commit();
    return out;
  } catch (e) {
    await r.revert(log);
    throw e;
  }
}
