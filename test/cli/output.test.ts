import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderHistory, formatLsn } from '../../src/cli/history-table.js';
import { makeColors } from '../../src/cli/colors.js';
import { renderedText } from '../../src/cli/output.js';
import { normalizeWatchArgv, runWatch } from '../../src/cli/watch.js';
import { isoWithOffset, parseScheduleTime } from '../../src/cli/schedule.js';
import { renderProgress } from '../../src/cli/progress.js';
import { ConfirmationRequired, createPrompter } from '../../src/cli/prompts.js';
import { titleIntoBorder } from '../../src/cli/table.js';
import type { HistoryRow } from '../../src/client/index.js';

const history: HistoryRow[] = [
  [1, 50331808, 'no recovery target specified', '2026-11-25T19:38:45.781+00:00', 'node1'],
  [2, 83886240, 'no recovery target specified'],
];

describe('history', () => {
  it('prints TL, LSN (as PostgreSQL writes it), Reason, Timestamp, New Leader; short rows padded', () => {
    const r = renderHistory(history, { format: 'pretty', colors: makeColors(false) });
    assert.ok('text' in r);
    assert.deepEqual(r.text.split('\n'), [
      '+----+-----------+------------------------------+-------------------------------+------------+',
      '| TL |       LSN | Reason                       | Timestamp                     | New Leader |',
      '+----+-----------+------------------------------+-------------------------------+------------+',
      '|  1 | 0/30000A0 | no recovery target specified | 2026-11-25T19:38:45.781+00:00 | node1      |',
      '|  2 | 0/50000A0 | no recovery target specified |                               |            |',
      '+----+-----------+------------------------------+-------------------------------+------------+',
    ]);
  });

  it('keeps patronictl\'s byte LSN in tsv and json', async () => {
    const tsv = renderHistory(history, { format: 'tsv' });
    assert.ok('text' in tsv);
    assert.equal(tsv.text.split('\n')[1], '1\t50331808\tno recovery target specified\t2026-11-25T19:38:45.781+00:00\tnode1');
    const json = JSON.parse(await renderedText(renderHistory(history, { format: 'json' })));
    assert.deepEqual(json[1], { TL: 2, LSN: 83886240, Reason: 'no recovery target specified' });
  });

  it('formats LSNs as hi/lo hex', () => {
    assert.equal(formatLsn(0), '0/0');
    assert.equal(formatLsn(0x1_d9000000), '1/D9000000');
  });
});

describe('table border title', () => {
  it('overwrites the border after the first + and keeps the width', () => {
    assert.equal(titleIntoBorder('+------+----+\n| a    | b  |', ' T: x '), '+ T: x +----+\n| a    | b  |');
    assert.equal(titleIntoBorder('+---+', ' long title '), '+ lo+');
  });
});

describe('--watch', () => {
  it('gives -W and --watch without a number the 2 s default', () => {
    assert.deepEqual(normalizeWatchArgv(['-W']), ['-W', '2']);
    assert.deepEqual(normalizeWatchArgv(['--watch', '-e']), ['--watch', '2', '-e']);
    assert.deepEqual(normalizeWatchArgv(['-W', '0.5', 'demo']), ['-W', '0.5', 'demo']);
    assert.deepEqual(normalizeWatchArgv(['--', '-W']), ['--', '-W']);
  });

  it('redraws, clearing the screen on a terminal, and shows a failed refresh without stopping', async () => {
    const out: string[] = [];
    let n = 0;
    await runWatch(1, async () => {
      n++;
      if (n === 2) throw new Error('no agent reachable');
      return `frame ${n}`;
    }, { write: (t) => out.push(t), isTTY: true, sleep: async () => undefined, shouldStop: () => n >= 3 });
    assert.deepEqual(out, ['\x1b[H\x1b[2Jframe 1\n', '\x1b[H\x1b[2JError: no agent reachable\n', '\x1b[H\x1b[2Jframe 3\n']);
  });
});

describe('scheduled times', () => {
  it('accepts now, ISO 8601 with or without zone, and refuses the rest in patronictl words', () => {
    assert.deepEqual(parseScheduleTime('now'), { iso: null });
    const utc = parseScheduleTime('2026-12-01T02:00:00Z');
    assert.ok('iso' in utc && utc.iso !== null);
    assert.equal(Date.parse(utc.iso), Date.parse('2026-12-01T02:00:00Z'));
    const local = parseScheduleTime('2026-12-01 02:00');
    assert.ok('iso' in local && local.iso !== null);
    assert.equal(Date.parse(local.iso), new Date(2026, 11, 1, 2, 0).getTime());
    assert.deepEqual(parseScheduleTime('next tuesday'), { error: 'Unable to parse scheduled timestamp (next tuesday). It should be in an unambiguous format (e.g. ISO 8601)' });
  });

  it('writes local time with its offset', () => {
    assert.match(isoWithOffset(new Date()), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
  });
});

describe('reinit progress', () => {
  it('draws a bar with size, rate and ETA when the agent reports the base backup', () => {
    const line = renderProgress({ member: 'node3', state: 'creating replica', elapsedMs: 3000, basebackup: { phase: 'copying', done_bytes: 50 * 1048576, total_bytes: 100 * 1048576 }, rateBytesPerSecond: 25 * 1048576 }, 10);
    assert.equal(line, 'node3: [#####.....] 50.0/100.0 MB 50% 25.0 MB/s ETA 2 s (3 s)');
  });

  it('falls back to the state and the time waited', () => {
    assert.equal(renderProgress({ member: 'node3', state: 'creating replica', elapsedMs: 12_400 }), 'node3: creating replica (12 s)');
  });
});

describe('prompts without a terminal', () => {
  it('fail at once and say to pass --force', async () => {
    const ask = createPrompter('switchover', false);
    await assert.rejects(ask.confirm('Are you sure?'), (e: Error) => e instanceof ConfirmationRequired && /pass --force to switchover without asking/.test(e.message));
  });
});
