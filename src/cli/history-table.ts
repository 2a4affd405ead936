/**
 * `hactl history`: the timeline switches (`GET /history`) as patronictl prints them, columns TL,
 * LSN, Reason, Timestamp, New Leader (short rows padded). The pretty table shows the LSN as
 * PostgreSQL writes it (`0/3000060`); tsv/json/yaml keep patronictl's byte number for scripts.
 */
import type { ChalkInstance } from 'chalk';
import type { HistoryRow } from '../client/index.js';
import { makeColors } from './colors.js';
import { compactRecords, renderTsv, type OutputFormat, type OutputRecord, type Rendered } from './output.js';
import { renderTable } from './table.js';

const COLUMNS = ['TL', 'LSN', 'Reason', 'Timestamp', 'New Leader'];

export function formatLsn(bytes: number | bigint): string {
  const b = BigInt(bytes);
  return `${(b >> 32n).toString(16).toUpperCase()}/${(b & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function historyRecords(rows: HistoryRow[]): OutputRecord[] {
  return rows.map((r) => ({ TL: r[0], LSN: r[1], Reason: r[2] ?? '', Timestamp: r[3] ?? '', 'New Leader': r[4] ?? '' }));
}

export function renderHistory(rows: HistoryRow[], opts: { format: OutputFormat; colors?: ChalkInstance }): Rendered {
  const records = historyRecords(rows);
  if (opts.format === 'json' || opts.format === 'yaml') return { data: compactRecords(COLUMNS, records), format: opts.format };
  if (opts.format === 'tsv') return { text: renderTsv(COLUMNS, records) };
  return {
    text: renderTable(
      COLUMNS.map((header) => ({
        header,
        align: header === 'TL' || header === 'LSN' ? ('right' as const) : ('left' as const),
        value: (r: OutputRecord) => (header === 'LSN' && typeof r.LSN === 'number' ? formatLsn(r.LSN) : (r[header] as string | number)),
      })),
      records,
      { colors: opts.colors ?? makeColors(), border: 'ascii' },
    ),
  };
}
