// primary_race_backoff (Patroni master, after 4.0; src/agent/ha/primary-race-backoff.ts): a replica whose
// WAL still moves postpones the race for the free leader key. The cases follow Patroni's
// process_unhealthy_cluster: the countdown, the first-loop_wait guard, and the cases it never applies to.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, needsMemberHealth, type DecideInput, type Decision } from '../../../src/agent/ha/index.js';
import { raceBackoffLeftMs } from '../../../src/agent/ha/primary-race-backoff.js';
import { standbyClusterOf } from '../../../src/agent/ha/standby-cluster.js';
import { MONO_NOW, PRIMARY_LSN, failover, health, input, primary, replica, view, type InputOverrides } from './fixtures.js';

const BACKOFF_MS = 6_000;
const LOOP_WAIT_MS = 1_000;
/** The position the previous cycle saw; this cycle's replica is at PRIMARY_LSN. */
const BEFORE = PRIMARY_LSN - 0x100n;
const MOVED = /^My \(srv2\) wal position moved since last heart beat loop, (-?\d+) seconds until leader race$/;
const RACE = 'promoted self to leader by acquiring session lock';

/** srv2 streaming from srv1, whose leader key just went; srv3 behind it (so srv2 is the healthiest). */
function leaderless(o: InputOverrides & { sinceAgoMs?: number | null; moved?: boolean; streaming?: boolean } = {}): DecideInput {
  const { sinceAgoMs = 2_000, moved = true, streaming = true, ...rest } = o;
  return input({
    view: view({ leaderName: null }),
    local: replica({ walReceiverStreaming: streaming }),
    memberHealth: [health('srv1', { reachable: false }), health('srv3', { walLsn: PRIMARY_LSN - 0x1000n })],
    ...rest,
    config: { primaryRaceBackoffMs: BACKOFF_MS, loopWaitMs: LOOP_WAIT_MS, ...rest.config },
    self: { walLsnLastCycle: moved ? BEFORE : PRIMARY_LSN, primaryRaceBackoffSinceMonoMs: sinceAgoMs === null ? null : MONO_NOW - sinceAgoMs, ...rest.self },
  });
}

function seconds(d: Decision): number {
  const m = MOVED.exec(d.reason);
  assert.ok(m, `expected the backoff line, got ${d.action}: ${d.reason}`);
  return Number(m[1]);
}

describe('primary_race_backoff', () => {
  it('postpones the race while the streamed WAL position moves, counting down', () => {
    const d = decide(leaderless({ sinceAgoMs: 2_000 }));
    assert.equal(d.action, 'no-action');
    assert.equal(seconds(d), 4);
    assert.equal(d.primaryRaceBackoffSinceMonoMs, undefined, 'a running countdown is left as it is');
    assert.equal(needsMemberHealth(leaderless({ sinceAgoMs: 2_000 })), false, 'no race this cycle, so no peer is asked');
  });

  it('starts the countdown at the first leaderless cycle, and holds back its first loop_wait even when the WAL is still', () => {
    const d = decide(leaderless({ sinceAgoMs: null, moved: false }));
    assert.equal(d.action, 'no-action');
    assert.equal(seconds(d), 6);
    assert.equal(d.primaryRaceBackoffSinceMonoMs, MONO_NOW);
  });

  it('races once the WAL position stands still after the first loop_wait', () => {
    const d = decide(leaderless({ sinceAgoMs: 2_000, moved: false }));
    assert.equal(d.action, 'acquire-and-promote');
    assert.equal(d.reason, RACE);
    assert.equal(needsMemberHealth(leaderless({ sinceAgoMs: 2_000, moved: false })), true);
  });

  it('counts a moved position only while the WAL receiver streams (archive recovery does not hold the race back)', () => {
    assert.equal(decide(leaderless({ streaming: false })).reason, RACE);
  });

  it('races when the backoff has run out, however the WAL moves', () => {
    assert.equal(decide(leaderless({ sinceAgoMs: BACKOFF_MS })).reason, RACE);
    assert.equal(decide(leaderless({ sinceAgoMs: BACKOFF_MS + 5_000 })).reason, RACE);
  });

  it('with a backoff shorter than loop_wait still holds back the first loop_wait, as Patroni does', () => {
    const short = (sinceAgoMs: number) => leaderless({ sinceAgoMs, moved: false, config: { primaryRaceBackoffMs: 2_000, loopWaitMs: 10_000 } });
    assert.equal(seconds(decide(short(5_000))), -3);
    assert.equal(decide(short(10_000)).reason, RACE);
  });

  it('does nothing when off, or before a first WAL position is known (the countdown is not started)', () => {
    const off = decide(leaderless({ config: { primaryRaceBackoffMs: 0 } }));
    assert.equal(off.reason, RACE);
    const unknown = decide(leaderless({ sinceAgoMs: null, self: { walLsnLastCycle: null } }));
    assert.equal(unknown.reason, RACE);
    assert.equal(unknown.primaryRaceBackoffSinceMonoMs, undefined);
  });

  it('never applies in pause, in a standby cluster, or with a failover request naming a candidate', () => {
    const paused = decide(leaderless({ config: { pause: true } }));
    assert.doesNotMatch(paused.reason, /wal position moved/);
    assert.equal(paused.primaryRaceBackoffSinceMonoMs, undefined);
    const standby = decide(leaderless({ sinceAgoMs: null, config: { standbyCluster: standbyClusterOf({ standby_cluster: { host: '10.0.0.9', port: 5433 } }) } }));
    assert.doesNotMatch(standby.reason, /wal position moved/);
    assert.equal(standby.primaryRaceBackoffSinceMonoMs, undefined);
    const toMe = decide(leaderless({ view: view({ leaderName: null, failover: failover({ candidate: 'srv2' }) }) }));
    assert.equal(toMe.reason, RACE);
    const toOther = decide(leaderless({ view: view({ leaderName: null, failover: failover({ candidate: 'srv3' }) }), memberHealth: [health('srv3')] }));
    assert.equal(toOther.action, 'follow');
    assert.doesNotMatch(toOther.reason, /wal position moved/);
  });

  it('still applies to a failover request without a candidate (Patroni checks only the candidate)', () => {
    const d = decide(leaderless({ view: view({ leaderName: null, failover: failover({ leader: 'srv1' }) }) }));
    assert.equal(seconds(d), 4);
  });

  it('never holds back a member running as primary (deliberate: it takes its key back at once)', () => {
    const d = decide(leaderless({ local: primary(), config: { name: 'srv1' } }));
    assert.equal(d.action, 'acquire-and-promote');
    assert.equal(d.reason, 'acquired session lock as a leader');
  });

  it('resets the countdown when the store shows a leader again, and only then', () => {
    const back = decide(leaderless({ view: view() }));
    assert.equal(back.primaryRaceBackoffSinceMonoMs, null);
    assert.equal(decide(leaderless({ view: view(), sinceAgoMs: null })).primaryRaceBackoffSinceMonoMs, undefined, 'nothing to reset');
    assert.equal(decide(leaderless({ sinceAgoMs: 3_000, moved: false })).primaryRaceBackoffSinceMonoMs, undefined, 'a still WAL does not reset it');
  });

  it('tells the loop when to wake for the end of the countdown', () => {
    const self = { leaseDeadlineMonoMs: null, longAction: null, startingSinceMonoMs: null, divergence: null, rewindFailed: false };
    assert.equal(raceBackoffLeftMs({ ...self, primaryRaceBackoffSinceMonoMs: MONO_NOW - 2_000 }, BACKOFF_MS, MONO_NOW), 4_000);
    assert.equal(raceBackoffLeftMs({ ...self, primaryRaceBackoffSinceMonoMs: MONO_NOW - 7_000 }, BACKOFF_MS, MONO_NOW), null);
    assert.equal(raceBackoffLeftMs({ ...self, primaryRaceBackoffSinceMonoMs: null }, BACKOFF_MS, MONO_NOW), null);
    assert.equal(raceBackoffLeftMs({ ...self, primaryRaceBackoffSinceMonoMs: MONO_NOW }, 0, MONO_NOW), null);
  });
});
