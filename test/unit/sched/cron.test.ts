/** Schedules: validation, the missed-run computation, job options. */
import { describe, it, expect } from 'vitest';
import { checkSchedule, lastScheduled } from '../../../src/sched/cron.js';
import { jobFromArgs } from '../../../src/sched/spec.js';
import { bootOrder } from '../../../src/sched/daemon.js';

describe('lastScheduled', () => {
  it('finds the latest firing in (after, now]', () => {
    const now = new Date(2025, 0, 10, 5, 0, 0);
    expect(lastScheduled('0 2 * * *', now, new Date(2025, 0, 8, 3))).toEqual(new Date(2025, 0, 10, 2, 0, 0));
    expect(lastScheduled('0 2 * * *', now, new Date(2025, 0, 10, 2, 0, 0))).toBeUndefined();
    expect(lastScheduled('0 2 * * 1', now, new Date(2024, 11, 1))).toEqual(new Date(2025, 0, 6, 2)); // Monday
  });
  it('walks a long downtime quickly, and agrees with node-cron on what matches', () => {
    const t0 = Date.now();
    expect(lastScheduled('0 0 1 1 *', new Date(2026, 5, 1), new Date(2025, 0, 2))).toEqual(new Date(2026, 0, 1, 0, 0, 0));
    expect(lastScheduled('30 4 * * 0', new Date(2026, 5, 1), new Date(2025, 0, 2))).toEqual(new Date(2026, 4, 31, 4, 30)); // a Sunday
    expect(lastScheduled('0 0 29 2 *', new Date(2025, 5, 1), new Date(2023, 0, 1), 900)).toEqual(new Date(2024, 1, 29));
    expect(Date.now() - t0).toBeLessThan(2000);
    // Day of month AND day of week, as node-cron fires: the 13th that is a Friday.
    expect(lastScheduled('0 12 13 * 5', new Date(2025, 11, 31), new Date(2024, 11, 31))).toEqual(new Date(2025, 5, 13, 12));
  });

  it('handles seconds schedules', () => {
    const now = new Date(2025, 0, 1, 12, 0, 25);
    expect(lastScheduled('*/10 * * * * *', now, new Date(2025, 0, 1, 12, 0, 0))).toEqual(new Date(2025, 0, 1, 12, 0, 20));
    expect(lastScheduled('*/10 * * * * *', now, new Date(2025, 0, 1, 12, 0, 20))).toBeUndefined();
  });
});

describe('job options', () => {
  it('rejects bad schedules and values with INVALID', () => {
    expect(() => checkSchedule('every night')).toThrow(/invalid schedule/);
    expect(() => jobFromArgs('j', 'backup', { schedule: '0 2 * * *', 'keep-last': -1 }, [101])).toThrow(/keep-last/);
    expect(() => jobFromArgs('j', 'backup', { schedule: '0 2 * * *', mode: 'fast' }, [101])).toThrow(/invalid mode/);
    expect(() => jobFromArgs('j', 'migrate', { schedule: '0 2 * * *' }, [101])).toThrow(/destination/);
    expect(() => jobFromArgs('j', 'backup', { schedule: '0 2 * * *' }, [])).toThrow(/--ctid/);
  });
  it('stores backup and migrate options', () => {
    const b = jobFromArgs('j', 'backup', { schedule: '0 2 * * *', 'keep-daily': 7, 'repeat-missed': true, dumpdir: '/d' }, 'all');
    expect(b).toEqual({ name: 'j', kind: 'backup', schedule: '0 2 * * *', ctids: 'all', options: { mode: 'suspend', compress: 'zstd', repeatMissed: true, dumpdir: '/d', keepDaily: 7 } });
    const m = jobFromArgs('e', 'migrate', { schedule: '0 2 * * *', destination: 'node2', online: true }, [101, 102]);
    expect(m.options).toEqual({ destination: 'node2', online: true, repeatMissed: false });
  });
});

describe('bootOrder', () => {
  it('starts higher bootorder first, then the rest by CTID', () => {
    expect(bootOrder([{ ctid: 5 }, { ctid: 3, bootorder: 1 }, { ctid: 9, bootorder: 10 }, { ctid: 2 }])).toEqual([9, 3, 2, 5]);
  });
});
