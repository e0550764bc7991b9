/**
 * Which backups a retention policy keeps, with Proxmox VE's semantics (PVE::Storage::prune_mark):
 * backups are taken newest first; keep-last keeps the N newest; then each of hourly, daily,
 * weekly (ISO week), monthly, yearly in turn keeps the newest backup of each of the N most recent
 * periods that have no backup kept yet; a backup is kept if any rule keeps it. No rule at all
 * keeps everything. Periods are in local time. Pure: the clock is the backups' own times.
 */
export interface Retention {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
}

export const RETENTION_KEYS = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

export interface PruneEntry<T> {
  item: T;
  time: Date;
  mark: 'keep' | 'remove';
}

const pad = (n: number) => String(n).padStart(2, '0');

/** ISO 8601 week-numbering year and week (strftime's %G/%V). */
export function isoWeek(d: Date): string {
  const t = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const dow = (t.getDay() + 6) % 7; // Monday = 0
  t.setDate(t.getDate() - dow + 3); // the Thursday of this week decides the year
  const year = t.getFullYear();
  const jan4 = new Date(year, 0, 4);
  const week = 1 + Math.round(((t.getTime() - jan4.getTime()) / 86_400_000 - 3 + ((jan4.getDay() + 6) % 7)) / 7);
  return `${year}/${pad(week)}`;
}

const PERIODS: Array<[keyof Retention, (d: Date) => string]> = [
  ['keepLast', (d) => String(d.getTime())],
  ['keepHourly', (d) => `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())}/${pad(d.getHours())}`],
  ['keepDaily', (d) => `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())}`],
  ['keepWeekly', isoWeek],
  ['keepMonthly', (d) => `${d.getFullYear()}/${pad(d.getMonth() + 1)}`],
  ['keepYearly', (d) => String(d.getFullYear())],
];

export function hasRetention(r: Retention): boolean {
  return RETENTION_KEYS.some((k) => (r[k] ?? 0) > 0);
}

export function pruneSelect<T>(items: ReadonlyArray<{ item: T; time: Date }>, r: Retention): PruneEntry<T>[] {
  const list = [...items].sort((a, b) => b.time.getTime() - a.time.getTime());
  if (!hasRetention(r)) return list.map((e) => ({ ...e, mark: 'keep' as const }));
  const marks: Array<'keep' | 'remove' | undefined> = list.map(() => undefined);
  for (const [key, idOf] of PERIODS) {
    const count = r[key] ?? 0;
    if (count <= 0) continue;
    const already = new Set<string>();
    list.forEach((e, i) => {
      if (marks[i] === 'keep') already.add(idOf(e.time));
    });
    const added = new Set<string>();
    for (let i = 0; i < list.length; i++) {
      if (marks[i] !== undefined) continue;
      const id = idOf(list[i]!.time);
      if (already.has(id)) continue;
      if (!added.has(id)) {
        if (added.size >= count) break;
        added.add(id);
        marks[i] = 'keep';
      } else {
        marks[i] = 'remove';
      }
    }
  }
  return list.map((e, i) => ({ ...e, mark: marks[i] ?? 'remove' }));
}
