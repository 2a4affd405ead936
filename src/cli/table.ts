/**
 * The one table renderer of the CLI (cli-table3). Commands describe columns and rows as values;
 * this decides borders and colours, so every command's tables look the same.
 */
import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import { makeColors } from './colors.js';

export type Cell = string | number | boolean | null | undefined;

export interface Column<Row> {
  header: string;
  value: (row: Row) => Cell;
  align?: 'left' | 'right' | 'center';
  /** Optional colouring of the rendered cell text (only applied when colours are on). */
  color?: (text: string, row: Row, c: ChalkInstance) => string;
}

export interface TableOptions {
  colors?: ChalkInstance;
  title?: string;
  /** No separator lines between rows. */
  compact?: boolean;
}

export function cellText(v: Cell): string {
  if (v === null || v === undefined) return '';
  return String(v);
}

export function renderTable<Row>(columns: Column<Row>[], rows: Row[], opts: TableOptions = {}): string {
  const c = opts.colors ?? makeColors();
  const table = new Table({
    head: columns.map((col) => c.bold(col.header)),
    colAligns: columns.map((col) => col.align ?? 'left'),
    // cli-table3 colours the head and border red/grey by default; we pass colours ourselves.
    style: { head: [], border: [], compact: opts.compact ?? false },
  });
  for (const row of rows) {
    table.push(
      columns.map((col) => {
        const text = cellText(col.value(row));
        return col.color ? col.color(text, row, c) : text;
      }),
    );
  }
  const body = table.toString();
  return opts.title ? `${c.bold(opts.title)}\n${body}` : body;
}

/** Two-column "field | value" table for one record, keys in the given order. */
export function renderKeyValueTable(entries: [string, Cell][], opts: TableOptions = {}): string {
  return renderTable<[string, Cell]>(
    [
      { header: 'field', value: (r) => r[0] },
      { header: 'value', value: (r) => r[1] },
    ],
    entries,
    { compact: true, ...opts },
  );
}
