import { describe, it, expect } from 'vitest';
import { Reverter, withRevert } from '../../../src/core/reverter.js';

describe('Reverter', () => {
  it('undoes in reverse order on failure and rethrows the original error', async () => {
    const log: string[] = [];
    await expect(
      withRevert(async (r) => {
        r.add('a', () => void log.push('undo a'));
        r.add('b', () => void log.push('undo b'));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(log).toEqual(['undo b', 'undo a']);
  });

  it('forgets the undo list on success', async () => {
    const log: string[] = [];
    expect(await withRevert((r) => (r.add('a', () => void log.push('x')), 7))).toBe(7);
    expect(log).toEqual([]);
  });

  it('runs every undo even when one fails, and reports it', async () => {
    const r = new Reverter();
    const ran: string[] = [];
    const msgs: string[] = [];
    r.add('first', () => void ran.push('first'));
    r.add('broken', () => {
      throw new Error('nope');
    });
    await r.revert((m) => msgs.push(m));
    expect(ran).toEqual(['first']);
    expect(msgs[0]).toMatch(/broken.*nope/);
  });
});
