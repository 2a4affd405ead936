/**
 * Draws a table the way cli-table3 0.6 does (head row, padding 1, per-column alignment, compact
 * or ruled rows, a style left open in a cell closed at its end) for the cells whose width is their
 * length: printable ASCII, optionally inside SGR colour codes, and multi-line only without colour. That is every table hactl prints about its own
 * clusters; cli-table3 itself (string-width, option merging, colour bookkeeping per line) cost ~35 ms
 * of CPU per table at start-up, a tenth of `hactl raft status`. `drawable()` says whether a grid
 * qualifies; src/cli/table.ts hands anything else to cli-table3. test/cli/table-grid.test.ts
 * compares both on random grids.
 */

export type Align = 'left' | 'right' | 'center';

/** cli-table3's border characters, by its option names. */
export interface BorderChars {
  top: string; 'top-mid': string; 'top-left': string; 'top-right': string;
  bottom: string; 'bottom-mid': string; 'bottom-left': string; 'bottom-right': string;
  left: string; 'left-mid': string; mid: string; 'mid-mid': string; right: string; 'right-mid': string; middle: string;
}

export const BOX_CHARS: BorderChars = {
  top: '─', 'top-mid': '┬', 'top-left': '┌', 'top-right': '┐',
  bottom: '─', 'bottom-mid': '┴', 'bottom-left': '└', 'bottom-right': '┘',
  left: '│', 'left-mid': '├', mid: '─', 'mid-mid': '┼', right: '│', 'right-mid': '┤', middle: '│',
};

export interface Grid {
  head: string[];
  rows: string[][];
  aligns: Align[];
  chars: BorderChars;
  compact: boolean;
}

// The SGR codes cli-table3 measures around (utils.codeRegex); any other escape is not ours to measure.
// eslint-disable-next-line no-control-regex -- ESC is what starts the codes being matched
const SGR = /\u001b\[((?:\d*;){0,5}\d*)m/g;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function visible(text: string): string {
  return text.includes('\u001b') ? text.replace(SGR, '') : text;
}

/** Every cell's width is its visible length, and colour never spans a line break. */
export function drawable(grid: Grid): boolean {
  for (const row of [grid.head, ...grid.rows]) {
    if (row.length !== grid.head.length) return false;
    for (const cell of row) {
      const plain = visible(cell);
      if (cell.includes('\n') && plain !== cell) return false;
      for (const line of plain.split('\n')) if (!PRINTABLE_ASCII.test(line)) return false;
    }
  }
  return true;
}

// cli-table3's colour bookkeeping (utils.readState/unwindState) for a one-line cell: what the
// cell leaves switched on is switched off after it, so the border is not coloured.
const STYLE_OFF: Record<string, [string, string]> = {
  '\u001b[1m': ['bold', '\u001b[22m'], '\u001b[22m': ['bold', ''],
  '\u001b[3m': ['italics', '\u001b[23m'], '\u001b[23m': ['italics', ''],
  '\u001b[4m': ['underline', '\u001b[24m'], '\u001b[24m': ['underline', ''],
  '\u001b[7m': ['inverse', '\u001b[27m'], '\u001b[27m': ['inverse', ''],
  '\u001b[9m': ['strikethrough', '\u001b[29m'], '\u001b[29m': ['strikethrough', ''],
};

function closeOpenStyles(line: string): string {
  if (!line.includes('\u001b')) return line;
  let open = new Map<string, string>();
  let fg: string | undefined;
  let bg: string | undefined;
  for (const m of line.matchAll(SGR)) {
    const code = m[1] ? parseInt(m[1].split(';')[0]!, 10) : 0;
    if ((code >= 30 && code <= 39) || (code >= 90 && code <= 97)) fg = m[0];
    else if ((code >= 40 && code <= 49) || (code >= 100 && code <= 107)) bg = m[0];
    else if (code === 0) [open, fg, bg] = [new Map(), undefined, undefined];
    else if (STYLE_OFF[m[0]]) open.set(STYLE_OFF[m[0]]![0], STYLE_OFF[m[0]]![1]);
  }
  let closers = [...open.values()].join('');
  if (bg && bg !== '\u001b[49m') closers += '\u001b[49m';
  if (fg && fg !== '\u001b[39m') closers += '\u001b[39m';
  return line + closers;
}

function pad(text: string, width: number, align: Align): string {
  const room = width - visible(text).length;
  if (align === 'right') return ' '.repeat(room) + text;
  if (align === 'center') {
    const right = Math.ceil(room / 2);
    return ' '.repeat(room - right) + text + ' '.repeat(right);
  }
  return text + ' '.repeat(room);
}

export function drawGrid(grid: Grid): string {
  const { chars: ch } = grid;
  const table = [grid.head, ...grid.rows].map((row) => row.map((cell) => cell.split('\n').map(closeOpenStyles)));
  const widths = grid.head.map((_, x) => 2 + Math.max(...table.map((row) => Math.max(...row[x]!.map((l) => visible(l).length)))));
  const rule = (left: string, fill: string, cross: string, right: string) => left + widths.map((w) => fill.repeat(w)).join(cross) + right;
  const out: string[] = [];
  table.forEach((row, y) => {
    if (y === 0) out.push(rule(ch['top-left'], ch.top, ch['top-mid'], ch['top-right']));
    else if (y === 1 || !grid.compact) out.push(rule(ch['left-mid'], ch.mid, ch['mid-mid'], ch['right-mid']));
    const height = Math.max(...row.map((lines) => lines.length));
    for (let n = 0; n < height; n++) {
      const cells = row.map((lines, x) => ` ${pad(lines[n] ?? '', widths[x]! - 2, grid.aligns[x] ?? 'left')} `);
      out.push(ch.left + cells.join(ch.middle) + ch.right);
    }
  });
  out.push(rule(ch['bottom-left'], ch.bottom, ch['bottom-mid'], ch['bottom-right']));
  return out.join('\n');
}
