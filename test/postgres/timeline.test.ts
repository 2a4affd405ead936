import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decideDivergence,
  localPositionFromControlData,
  parseCheckpointEndFromWaldump,
  parseTimelineHistory,
  type DivergenceInput,
} from '../../src/postgres/timeline.js';
import { parseLsn } from '../../src/postgres/lsn.js';

describe('parseTimelineHistory', () => {
  it('reads the lines PostgreSQL writes: parent timeline, switch point, reason', () => {
    const text = '1\t0/3000000\tno recovery target specified\n\n2\t0/5000A28\tno recovery target specified\n';
    assert.deepEqual(parseTimelineHistory(text), [
      { parentTimeline: 1, switchLsn: 0x3000000n, reason: 'no recovery target specified' },
      { parentTimeline: 2, switchLsn: 0x5000a28n, reason: 'no recovery target specified' },
    ]);
  });

  it('skips comments and blank lines, accepts spaces and a missing reason', () => {
    const text = '# made by hand\n  1   1/A0  \n\n3 2/0 after restore\n';
    assert.deepEqual(parseTimelineHistory(text), [
      { parentTimeline: 1, switchLsn: 0x1000000a0n, reason: '' },
      { parentTimeline: 3, switchLsn: 0x200000000n, reason: 'after restore' },
    ]);
  });

  it('returns nothing for an empty file', () => {
    assert.deepEqual(parseTimelineHistory(''), []);
  });

  it('refuses malformed lines instead of pretending the history is shorter', () => {
    assert.throws(() => parseTimelineHistory('1\tnot-an-lsn\treason'), /line 1 is malformed/);
    assert.throws(() => parseTimelineHistory('x 0/1 reason'), /malformed/);
    assert.throws(() => parseTimelineHistory('2\t0/1\ta\n1\t0/2\tb'), /does not increase/);
  });
});

describe('decideDivergence', () => {
  const history = parseTimelineHistory('1\t0/3000000\tr\n2\t0/5000000\tr\n4\t0/9000000\tr\n');
  const cases: Array<{ name: string; input: DivergenceInput; diverged: boolean; reason: RegExp }> = [
    {
      name: 'same timeline is never diverged',
      input: { local: { timeline: 3, lsn: 0xfffffffn, inRecovery: false }, primaryTimeline: 3, primaryHistory: [] },
      diverged: false,
      reason: /on the primary's timeline/,
    },
    {
      name: 'local timeline ahead of the primary',
      input: { local: { timeline: 4, lsn: 0x1n, inRecovery: true }, primaryTimeline: 3, primaryHistory: [] },
      diverged: true,
      reason: /ahead of the primary's timeline 3/,
    },
    {
      name: 'replica that replayed up to the switch point follows',
      input: { local: { timeline: 2, lsn: 0x5000000n, inRecovery: true }, primaryTimeline: 5, primaryHistory: history },
      diverged: false,
      reason: /not past the primary's switch point 0\/5000000 to timeline 5/,
    },
    {
      name: 'replica that replayed past the switch point diverged',
      input: { local: { timeline: 2, lsn: 0x5000001n, inRecovery: true }, primaryTimeline: 5, primaryHistory: history },
      diverged: true,
      reason: /replayed past/,
    },
    {
      name: 'former primary whose checkpoint record ends at the switch point (clean switchover) follows',
      input: {
        local: { timeline: 1, lsn: 0x2ffff90n, inRecovery: false, checkpointEndLsn: 0x3000000n },
        primaryTimeline: 5,
        primaryHistory: history,
      },
      diverged: false,
      reason: /checkpoint ends at the primary's switch point/,
    },
    {
      name: 'former primary whose checkpoint ends elsewhere diverged',
      input: {
        local: { timeline: 1, lsn: 0x2000000n, inRecovery: false, checkpointEndLsn: 0x2000100n },
        primaryTimeline: 5,
        primaryHistory: history,
      },
      diverged: true,
      reason: /checkpoint ends at 0\/2000100, not at/,
    },
    {
      name: 'former primary with a checkpoint at or past the switch point diverged',
      input: { local: { timeline: 1, lsn: 0x3000000n, inRecovery: false }, primaryTimeline: 5, primaryHistory: history },
      diverged: true,
      reason: /at or past/,
    },
    {
      name: 'former primary with an unknown checkpoint end is treated as diverged',
      input: { local: { timeline: 1, lsn: 0x1000000n, inRecovery: false }, primaryTimeline: 5, primaryHistory: history },
      diverged: true,
      reason: /end of checkpoint record unknown/,
    },
    {
      name: 'local timeline skipped by the primary history (a sibling branch) diverged',
      input: { local: { timeline: 3, lsn: 0x1n, inRecovery: true }, primaryTimeline: 5, primaryHistory: history },
      diverged: true,
      reason: /not in the primary's history \(it branched from timeline 4\)/,
    },
    {
      name: 'local timeline missing from a history that ends below it diverged',
      input: {
        local: { timeline: 3, lsn: 0x1n, inRecovery: true },
        primaryTimeline: 5,
        primaryHistory: parseTimelineHistory('1\t0/3000000\tr\n2\t0/5000000\tr\n'),
      },
      diverged: true,
      reason: /not in the primary's timeline 5 history/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const verdict = decideDivergence(c.input);
      assert.equal(verdict.diverged, c.diverged, verdict.reason);
      assert.match(verdict.reason, c.reason);
    });
  }
});

describe('localPositionFromControlData', () => {
  it('uses the minimum recovery point of a standby that was shut down in recovery', () => {
    assert.deepEqual(
      localPositionFromControlData({
        'Database cluster state': 'shut down in recovery',
        'Minimum recovery ending location': '0/5000A28',
        "Min recovery ending loc's timeline": '2',
        'Latest checkpoint location': '0/4000000',
        "Latest checkpoint's TimeLineID": '2',
      }),
      { timeline: 2, lsn: 0x5000a28n, inRecovery: true },
    );
  });

  it('uses the latest checkpoint of a cleanly shut down primary', () => {
    assert.deepEqual(
      localPositionFromControlData({
        'Database cluster state': 'shut down',
        'Latest checkpoint location': '0/3000028',
        "Latest checkpoint's TimeLineID": '1',
        "Min recovery ending loc's timeline": '0',
      }),
      { timeline: 1, lsn: 0x3000028n, inRecovery: false },
    );
  });

  it('treats a standby with a 0/0 minimum recovery point as a former primary', () => {
    assert.deepEqual(
      localPositionFromControlData({
        'Database cluster state': 'in archive recovery',
        'Minimum recovery ending location': '0/0',
        "Min recovery ending loc's timeline": '0',
        'Latest checkpoint location': '0/3000028',
        "Latest checkpoint's TimeLineID": '1',
      }),
      { timeline: 1, lsn: 0x3000028n, inRecovery: false },
    );
  });

  it('gives no position for a crashed server (crash recovery comes first)', () => {
    assert.equal(localPositionFromControlData({ 'Database cluster state': 'in production' }), undefined);
  });
});

describe('parseCheckpointEndFromWaldump', () => {
  const stdout =
    'rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/03000028, prev 0/02000100, desc: CHECKPOINT_SHUTDOWN redo 0/3000028; tli 1; shutdown\n';
  it('reads where the record after the checkpoint would start (PostgreSQL 15 wording)', () => {
    const stderr = 'pg_waldump: error: error in WAL record at 0/3000028: invalid record length at 0/30000A0: wanted 24, got 0\n';
    assert.equal(parseCheckpointEndFromWaldump(stdout, stderr, parseLsn('0/3000028')), 0x30000a0n);
  });
  it('reads the PostgreSQL 16 wording too', () => {
    const stderr = 'pg_waldump: error: error in WAL record at 0/3000028: invalid record length at 0/30000A0: expected at least 24, got 0';
    assert.equal(parseCheckpointEndFromWaldump(stdout, stderr, parseLsn('0/3000028')), 0x30000a0n);
  });
  it('gives up when more records follow the checkpoint or the error is another one', () => {
    assert.equal(parseCheckpointEndFromWaldump(stdout + stdout, '', 0x3000028n), undefined);
    assert.equal(parseCheckpointEndFromWaldump(stdout, 'pg_waldump: error: could not find file', 0x3000028n), undefined);
  });
});
