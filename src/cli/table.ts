/**
 * The one table renderer of the CLI (cli-table3's layout). Commands describe columns and rows as
 * values; this decides borders and colours, so every command's tables look the same. Tables of
 * printable ASCII are drawn by ./table-grid.ts, the same output without cli-table3's start-up cost;
 * any other text (wide or combining characters, control codes) still goes through cli-table3.
 */
import { createRequire } from 'node:module';
import type { ChalkInstance } from 'chalk';
import type CliTable3 from 'cli-table3';
import { makeColors } from './colors.js';
import { BOX_CHARS, drawable, drawGrid, type Grid } from './table-grid.js';

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

const ASCII_CHARS: Grid['chars'] = {
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
  const grid: Grid = {
    head: columns.map((col) => c.bold(col.header)),
    rows: rows.map((row, i) => columns.map((col, j) => (col.color ? col.color(texts[i]![j]!, row, c) : texts[i]![j]!))),
    aligns: columns.map((col) => col.align ?? 'left'),
    chars: ascii ? ASCII_CHARS : BOX_CHARS,
    compact,
  };
  let body = drawable(grid) ? drawGrid(grid) : drawWithCliTable3(grid);
  if (ascii && opts.borderTitle) body = titleIntoBorder(body, opts.borderTitle);
  return opts.title ? `${c.bold(opts.title)}\n${body}` : body;
}

/** cli-table3, loaded only for a table ./table-grid.ts cannot measure. */
export function drawWithCliTable3(grid: Grid): string {
  // A synchronous, lazy load: renderTable is synchronous, and most runs never need it.
  const Table = createRequire(import.meta.url)('cli-table3') as typeof CliTable3;
  const table = new Table({
    head: grid.head,
    colAligns: grid.aligns,
    // cli-table3 colours the head and border red/grey by default; we pass colours ourselves.
    style: { head: [], border: [], compact: grid.compact },
    chars: grid.chars,
  });
  table.push(...grid.rows);
  return table.toString();
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
