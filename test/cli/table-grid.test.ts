// The fast table drawer must print exactly what cli-table3 prints for every grid it accepts, and
// leave the rest to cli-table3.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Chalk } from 'chalk';
import { BOX_CHARS, drawable, drawGrid, type Align, type Grid } from '../../src/cli/table-grid.js';
import { drawWithCliTable3, renderTable } from '../../src/cli/table.js';
import { Rng } from '../helpers/prng.js';

const ASCII_CHARS: Grid['chars'] = {
  top: '-', 'top-mid': '+', 'top-left': '+', 'top-right': '+',
  bottom: '-', 'bottom-mid': '+', 'bottom-left': '+', 'bottom-right': '+',
  left: '|', 'left-mid': '+', mid: '-', 'mid-mid': '+', right: '|', 'right-mid': '+', middle: '|',
};
const chalk = new Chalk({ level: 3 });
const STYLES = [
  (s: string) => chalk.bold(s),
  (s: string) => chalk.red(s),
  (s: string) => chalk.green.bold(s),
  (s: string) => chalk.bgBlue.yellow(s),
  (s: string) => chalk.dim.underline(s),
  (s: string) => `\u001b[1m${s}`, // left open: cli-table3 closes it after the cell
  (s: string) => `\u001b[31m${s}`,
  (s: string) => `\u001b[42;1m${s}\u001b[0m`,
];
const WORDS = ['', 'node1', 'Leader', 'streaming', '127.0.0.1:5432', '0/D9000000', 'unknown', '  x  ', '12', 'a b c', '+-|'];

function randomText(rng: Rng, colour: boolean, multiLine: boolean): string {
  const lines = multiLine && rng.chance(0.3) ? rng.int(2, 4) : 1;
  const text = Array.from({ length: lines }, () => {
    if (rng.chance(0.2)) return Array.from({ length: rng.int(0, 30) }, () => String.fromCharCode(rng.int(0x20, 0x7f))).join('');
    return rng.pick(WORDS);
  }).join('\n');
  return colour && lines === 1 && rng.chance(0.5) ? rng.pick(STYLES)(text) : text;
}

function randomGrid(rng: Rng): Grid {
  const columns = rng.int(1, 7);
  const colour = rng.chance(0.5);
  const cell = () => randomText(rng, colour, !colour);
  return {
    head: Array.from({ length: columns }, cell),
    rows: Array.from({ length: rng.int(0, 8) }, () => Array.from({ length: columns }, cell)),
    aligns: Array.from({ length: columns }, () => rng.pick<Align>(['left', 'right', 'center'])),
    chars: rng.chance(0.5) ? ASCII_CHARS : BOX_CHARS,
    compact: rng.chance(0.5),
  };
}

describe('table grid drawer', () => {
  it('prints what cli-table3 prints for 600 random printable-ASCII grids (colours, alignments, borders, compact)', () => {
    const seed = Number(process.env.HACTL_TABLE_SEED ?? 19);
    const rng = new Rng(seed);
    for (let i = 0; i < 600; i++) {
      const grid = randomGrid(rng);
      assert.ok(drawable(grid), `grid ${i} (seed ${seed}) should be drawable: ${JSON.stringify(grid)}`);
      assert.equal(drawGrid(grid), drawWithCliTable3(grid), `grid ${i} (seed ${seed}, HACTL_TABLE_SEED=${seed} reruns): ${JSON.stringify(grid)}`);
    }
  });

  it('leaves wide, combining and control characters and colour across lines to cli-table3', () => {
    const base: Grid = { head: ['field', 'value'], rows: [['a', 'b']], aligns: ['left', 'left'], chars: BOX_CHARS, compact: true };
    for (const odd of ['数据库', 'e\u0301', 'tab\there', '\u001b]8;;http://x\u0007link', chalk.red('two\nlines'), 'caf\u00e9']) {
      const grid = { ...base, rows: [['a', odd]] };
      assert.equal(drawable(grid), false, JSON.stringify(odd));
    }
    assert.equal(drawable({ ...base, rows: [['only one cell']] }), false);
  });

  it('renderTable gives the same text either way', () => {
    const columns = [
      { header: 'Member', value: (r: string[]) => r[0] },
      { header: 'Lag', value: (r: string[]) => r[1], align: 'right' as const },
    ];
    for (const rows of [[['node1', '0'], ['node2', '12']], [['数据库', '0'], ['node2', '12']]]) {
      const grid: Grid = { head: ['Member', 'Lag'], rows, aligns: ['left', 'right'], chars: BOX_CHARS, compact: false };
      assert.equal(renderTable(columns, rows, { colors: new Chalk({ level: 0 }) }), drawWithCliTable3(grid));
    }
  });
});
