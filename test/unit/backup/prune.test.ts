/** Retention with Proxmox's semantics, on a fake clock: the backups' own times. */
import { describe, it, expect } from 'vitest';
import { isoWeek, pruneSelect, type Retention } from '../../../src/backup/prune.js';
import { archiveName, parseArchiveName } from '../../../src/backup/names.js';

const day = (y: number, m: number, d: number, h = 2) => new Date(y, m - 1, d, h, 0, 0);
const ymd = (t: Date) => `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, '0')}-${String(t.getDate()).padStart(2, '0')}`;

/** Daily runs through a year, pruning after each run as vzd does; returns what is left. */
function simulateYear(policy: Retention): Date[] {
  let kept: Date[] = [];
  for (let t = day(2025, 1, 1); t <= day(2025, 12, 31); t = new Date(t.getFullYear(), t.getMonth(), t.getDate() + 1, 2)) {
    kept.push(t);
    kept = pruneSelect(kept.map((time) => ({ item: time, time })), policy)
      .filter((e) => e.mark === 'keep')
      .map((e) => e.item);
  }
  return kept.sort((a, b) => b.getTime() - a.getTime());
}

describe('pruneSelect (Proxmox keep-* semantics)', () => {
  it('ISO weeks as strftime %G/%V', () => {
    expect(isoWeek(new Date(2021, 0, 3))).toBe('2020/53');
    expect(isoWeek(new Date(2021, 0, 4))).toBe('2021/01');
    expect(isoWeek(new Date(2024, 11, 30))).toBe('2025/01');
    expect(isoWeek(new Date(2025, 11, 28))).toBe('2025/52');
    expect(isoWeek(new Date(2025, 11, 29))).toBe('2026/01');
  });

  it('keeps everything when no rule is given', () => {
    const items = [1, 2, 3].map((d) => ({ item: d, time: day(2025, 1, d) }));
    expect(pruneSelect(items, {}).every((e) => e.mark === 'keep')).toBe(true);
  });

  it('a year of daily runs: daily 7, weekly 4, monthly 3, yearly 2', () => {
    const left = simulateYear({ keepDaily: 7, keepWeekly: 4, keepMonthly: 3, keepYearly: 2 }).map(ymd);
    expect(left).toEqual([
      // the last 7 days
      '2025-12-31', '2025-12-30', '2025-12-29', '2025-12-28', '2025-12-27', '2025-12-26', '2025-12-25',
      // the newest of the 4 weeks before (ISO weeks 51, 50, 49, 48 end on Sundays)
      '2025-12-21', '2025-12-14', '2025-12-07', '2025-11-30',
      // the newest surviving backup of the 3 months before: Oct 31 (Fri) and Sep 30 (Tue) share
      // their ISO week with the next month's first days, so an earlier run's weekly rule marked
      // them for removal (Proxmox marks a week's other backups "remove"); Aug 31 is a Sunday
      '2025-10-26', '2025-09-28', '2025-08-31',
      // yearly: 2025 already has one; no older year exists
    ]);
  });

  it('one prune over a whole year keeps month ends; pruning daily keeps the last Sundays', () => {
    const policy = { keepLast: 3, keepWeekly: 2, keepMonthly: 12 };
    const all: Date[] = [];
    for (let d = 0; d < 365; d++) all.push(day(2025, 1, 1 + d));
    const oneShot = pruneSelect(all.map((time) => ({ item: time, time })), policy)
      .filter((e) => e.mark === 'keep')
      .map((e) => ymd(e.item));
    // last 3 (ISO week 2026/01), weeks 52 and 51, then the newest of each of the 11 months before December
    expect(oneShot).toEqual([
      '2025-12-31', '2025-12-30', '2025-12-29', '2025-12-28', '2025-12-21',
      '2025-11-30', '2025-10-31', '2025-09-30', '2025-08-31', '2025-07-31', '2025-06-30',
      '2025-05-31', '2025-04-30', '2025-03-31', '2025-02-28', '2025-01-31',
    ]);
    // Pruned after every run, a month end that shares its week with the next month was removed
    // by the weekly rule while that week was one of the 2 kept: the month's last Sunday remains.
    expect(simulateYear(policy).map(ymd)).toEqual([
      '2025-12-31', '2025-12-30', '2025-12-29', '2025-12-28', '2025-12-21',
      '2025-11-30', '2025-10-26', '2025-09-28', '2025-08-31', '2025-07-27', '2025-06-29',
      '2025-05-25', '2025-04-27', '2025-03-30', '2025-02-23', '2025-01-26',
    ]);
  });

  it('keep-last and keep-hourly count distinct hours, newest first', () => {
    const times = [day(2025, 3, 1, 10), new Date(2025, 2, 1, 10, 30), day(2025, 3, 1, 11), new Date(2025, 2, 1, 11, 45), day(2025, 3, 1, 12)];
    const r = pruneSelect(times.map((time, i) => ({ item: i, time })), { keepLast: 1, keepHourly: 2 });
    const kept = r.filter((e) => e.mark === 'keep').map((e) => e.item).sort();
    // 12:00 (last), then the newest of 11:xx (11:45) and of 10:xx (10:30)
    expect(kept).toEqual([1, 3, 4]);
  });

  it('yearly keeps the newest backup of each year', () => {
    const items = [day(2023, 6, 1), day(2023, 12, 1), day(2024, 2, 1), day(2025, 1, 5)].map((time) => ({ item: ymd(time), time }));
    const kept = pruneSelect(items, { keepYearly: 2 }).filter((e) => e.mark === 'keep').map((e) => e.item);
    expect(kept).toEqual(['2025-01-05', '2024-02-01']);
  });
});

describe('archive names', () => {
  it('round-trip CTID, local time and compression', () => {
    const at = new Date(2025, 6, 4, 3, 5, 9);
    const n = archiveName(101, at, 'zstd');
    expect(n).toBe('vzdump-101-2025_07_04-03_05_09.tar.zst');
    expect(parseArchiveName(`/x/${n}`)).toEqual({ ctid: 101, time: at, compression: 'zstd' });
    expect(parseArchiveName(archiveName(7, at, 'none'))?.compression).toBe('none');
    expect(parseArchiveName('vzdump-101-2025_07_04-03_05_09.tar.zst.sha256')).toBeUndefined();
    expect(parseArchiveName('other.tar')).toBeUndefined();
  });
});
