/** Plain aligned columns, vzlist style: numbers right-aligned, text left-aligned. */
export interface Column<T> {
  header: string;
  get(row: T): string | number | null | undefined;
  right?: boolean;
}

export function renderTable<T>(rows: T[], cols: Column<T>[], opts: { header?: boolean } = {}): string {
  const cells = rows.map((r) => cols.map((c) => fmt(c.get(r))));
  const widths = cols.map((c, i) => Math.max(opts.header === false ? 0 : c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (cols[i]!.right ? v.padStart(widths[i]!) : i === vals.length - 1 ? v : v.padEnd(widths[i]!)))
      .join(' ')
      .trimEnd();
  const out = cells.map(line);
  if (opts.header !== false) out.unshift(line(cols.map((c) => c.header)));
  return out.join('\n');
}

function fmt(v: string | number | null | undefined): string {
  return v === null || v === undefined || v === '' ? '-' : String(v);
}
