/**
 * The `-f/--format` choices of the cluster commands (patronictl's): `pretty` tables for people,
 * `tsv` with a header row for shell pipelines, `json`/`yaml` lists of records for programs. A
 * record's keys are the table's column names; empty values are left out (as patronictl).
 */
export const OUTPUT_FORMATS = ['pretty', 'tsv', 'json', 'yaml', 'yml'] as const;
export type OutputFormat = 'pretty' | 'tsv' | 'json' | 'yaml';

export function normalizeFormat(f: string | undefined): OutputFormat {
  if (f === 'yml') return 'yaml';
  return (f ?? 'pretty') as OutputFormat;
}

export type RecordValue = string | number | boolean | null | undefined | Record<string, unknown> | unknown[];
export type OutputRecord = Record<string, RecordValue>;

/** Records with empty values dropped, keys in column order. */
export function compactRecords(columns: string[], rows: OutputRecord[]): Record<string, unknown>[] {
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const col of columns) {
      const v = row[col];
      if (v === undefined || v === null || v === '') continue;
      if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
      out[col] = v;
    }
    return out;
  });
}

/** Tab-separated, header row first; nested values in flow style (`{nofailover: true}`). */
export function renderTsv(columns: string[], rows: OutputRecord[]): string {
  const line = (cells: string[]) => cells.map((c) => c.replace(/[\t\n]/g, ' ')).join('\t');
  return [line(columns), ...rows.map((row) => line(columns.map((col) => tsvCell(row[col]))))].join('\n');
}

function tsvCell(v: RecordValue): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return flowStyle(v);
  return String(v);
}

/** YAML flow style for small maps and lists, without the YAML library (tags, pending restart reasons). */
export function flowStyle(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flowStyle).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}: ${flowStyle(x)}`).join(', ')}}`;
  }
  return scalarText(v);
}

/** Block style `key: value` lines for a flat map (the Tags cell of the pretty table). */
export function blockStyle(v: Record<string, unknown>): string {
  return Object.entries(v)
    .map(([k, x]) => `${k}: ${x !== null && typeof x === 'object' ? flowStyle(x) : scalarText(x)}`)
    .join('\n');
}

function scalarText(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return /^[\w./:@+-]*$/.test(v) && v !== '' ? v : JSON.stringify(v);
  return String(v);
}

/** json and yaml documents; the YAML library is only loaded when asked for (it costs ~70 ms at start-up). */
export async function serialize(value: unknown, format: 'json' | 'yaml'): Promise<string> {
  if (format === 'json') return JSON.stringify(value, null, 2);
  const { stringify } = await import('yaml');
  return stringify(value, { sortMapEntries: false }).replace(/\n$/, '');
}

/** What a pure renderer hands the command: finished text, or data to serialize as json/yaml. */
export type Rendered = { text: string } | { data: unknown; format: 'json' | 'yaml' };

export async function renderedText(r: Rendered): Promise<string> {
  return 'text' in r ? r.text : serialize(r.data, r.format);
}
