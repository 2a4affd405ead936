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
  /** No separator lines between rows. Default for `ascii`: compact unless a cell spans lines (as patronictl). */
  compact?: boolean;
  /**
   * `box` (default): Unicode box drawing. `ascii`: patronictl's PrettyTable look (`+----+`, `|`),
   * which operators' scripts and eyes know.
   */
  border?: 'box' | 'ascii';
  /** Text written into the top border, patronictl's `+ Cluster: demo (7117…) ---+` (ascii only). */
  borderTitle?: string;
}

const ASCII_CHARS = {
  top: '-', 'top-mid': '+', 'top-left': '+', 'top-right': '+',
  bottom: '-', 'bottom-mid': '+', 'bottom-left': '+', 'bottom-right': '+',
  left: '|', 'left-mid': '+', mid: '-', 'mid-mid': '+', right: '|', 'right-mid': '+', middle: '|',
};

export function cellText(v: Cell): string {
  if (v === null || v === undefined) return '';
  return String(v);
}

export function renderTable<Row>(columns: Column<Row>[], rows: Row[], opts: TableOptions = {}): string {
  const c = opts.colors ?? makeColors();
  const ascii = opts.border === 'ascii';
  const texts = rows.map((row) => columns.map((col) => cellText(col.value(row))));
  const compact = opts.compact ?? (ascii ? !texts.some((r) => r.some((t) => t.includes('\n'))) : false);
  const table = new Table({
    head: columns.map((col) => c.bold(col.header)),
    colAligns: columns.map((col) => col.align ?? 'left'),
    // cli-table3 colours the head and border red/grey by default; we pass colours ourselves.
    style: { head: [], border: [], compact },
    ...(ascii ? { chars: ASCII_CHARS } : {}),
  });
  rows.forEach((row, i) => {
    table.push(columns.map((col, j) => (col.color ? col.color(texts[i]![j]!, row, c) : texts[i]![j]!)));
  });
  let body = table.toString();
  if (ascii && opts.borderTitle) body = titleIntoBorder(body, opts.borderTitle);
  return opts.title ? `${c.bold(opts.title)}\n${body}` : body;
}

/**
 * patronictl's PatronictlPrettyTable: the title overwrites the top border after its first `+`,
 * cut to fit when the table is narrower than the title.
 */
export function titleIntoBorder(table: string, title: string): string {
  const nl = table.indexOf('\n');
  const top = nl < 0 ? table : table.slice(0, nl);
  const header = title.slice(0, Math.max(0, top.length - 2));
  const line = top[0] + header + top.slice(1 + header.length);
  return nl < 0 ? line : line + table.slice(nl);
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
