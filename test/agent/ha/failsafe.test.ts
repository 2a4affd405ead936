// failsafe_mode (issue 16): the pure rules (failsafe.ts through decide), what a member answers to
// POST /failsafe (failsafe-state.ts), and the primary's round (failsafe-round.ts) with a scripted POST.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, type DecideInput, type FailsafeRound } from '../../../src/agent/ha/index.js';
import { failsafeTopologyToWrite, needsFailsafeRound, raceMembers, FAILSAFE_KEEP_REASON } from '../../../src/agent/ha/failsafe.js';
import { FailsafeState, type FailsafeSelf } from '../../../src/agent/ha/failsafe-state.js';
import { askFailsafeMembers, failsafeUrl, type PostFailsafe } from '../../../src/agent/ha/failsafe-round.js';
import { applyFencePolicy } from '../../../src/agent/fence/index.js';
import { decodeFailsafe, LEASE_MAX_DRIFT_RATIO } from '../../../src/dcs/index.js';
import { MONO_NOW, PRIMARY_LSN, asLeader, health, input, member, view, type InputOverrides } from './fixtures.js';

const TOPOLOGY = { srv1: 'http://srv1:8008/patroni', srv2: 'http://srv2:8008/patroni', srv3: 'http://srv3:8008/patroni' };

function round(overrides: Partial<FailsafeRound> = {}): FailsafeRound {
  return {
    sentAtMonoMs: MONO_NOW - 50,
    answers: [
      { name: 'srv2', accepted: true, detail: '200 Accepted' },
      { name: 'srv3', accepted: true, detail: '200 Accepted' },
    ],
    refused: null,
    ...overrides,
  };
}

/** srv1, the primary, cannot reach the store; its lease ran out; failsafe_mode on unless overridden. */
function primaryWithoutStore(r: FailsafeRound | null, o: InputOverrides = {}): DecideInput {
  const i = asLeader({ dcsOk: false, ...o, config: { failsafeMode: true, ...o.config } });
  i.failsafe = { round: r, pingedBy: null };
  return i;
}

describe('failsafe mode: the primary without the store', () => {
  it('keeps running while every member of the failsafe key accepted this cycle, until ttl·(1 − ρ) after the round was sent', () => {
    const d = decide(primaryWithoutStore(round()));
    assert.equal(d.action, 'keep-failsafe');
    assert.equal(d.reason, FAILSAFE_KEEP_REASON);
    assert.equal((d as { untilMonoMs: number }).untilMonoMs, MONO_NOW - 50 + 30_000 * (1 - LEASE_MAX_DRIFT_RATIO));
  });

  it('keeps a single-member cluster running (nobody else to ask)', () => {
    assert.equal(decide(primaryWithoutStore(round({ answers: [] }))).action, 'keep-failsafe');
  });

  it('demotes when one member refuses or does not answer, naming it', () => {
    const refused = round({ answers: [{ name: 'srv2', accepted: true, detail: '200 Accepted' }, { name: 'srv3', accepted: false, detail: 'no answer: timeout' }] });
    const d = decide(primaryWithoutStore(refused));
    assert.equal(d.action, 'demote');
    assert.equal(d.reason, 'demoted self because DCS is not accessible and I was a leader');
    assert.ok(d.notes.some((n) => n.level === 'warning' && /failsafe: not every member accepted POST \/failsafe: srv3 \(no answer: timeout\)/.test(n.message)), JSON.stringify(d.notes));
  });

  it('demotes when it is not in the failsafe key or none is known (nobody was asked)', () => {
    const d = decide(primaryWithoutStore(round({ answers: [], refused: 'srv1 is not in the failsafe key' })));
    assert.equal(d.action, 'demote');
    assert.ok(d.notes.some((n) => /failsafe: srv1 is not in the failsafe key/.test(n.message)));
  });

  it('still rides on its lease when the round fails but the lease covers the next cycle (the rule without failsafe)', () => {
    const refused = round({ answers: [{ name: 'srv2', accepted: false, detail: '500 Running as a leader' }] });
    const d = decide(primaryWithoutStore(refused, { config: { ttlMs: 10_000, loopWaitMs: 2_000, retryTimeoutMs: 3_000 }, self: { leaseDeadlineMonoMs: MONO_NOW + 9_000 } }));
    assert.equal(d.action, 'no-action');
    assert.match(d.reason, /^continue to run as primary while the leader lease lasts/);
  });

  it('does not rely on a round that took so long its promise ends before a demotion could finish', () => {
    const d = decide(primaryWithoutStore(round({ sentAtMonoMs: MONO_NOW - 29_000 })));
    assert.equal(d.action, 'demote');
    assert.ok(d.notes.some((n) => /took too long/.test(n.message)));
  });

  it('ignores a round with failsafe_mode off, and makes none in pause, as a replica, or with the store up', () => {
    assert.equal(decide(primaryWithoutStore(round(), { config: { failsafeMode: false } })).action, 'demote');
    assert.equal(needsFailsafeRound(primaryWithoutStore(null)), true);
    assert.equal(needsFailsafeRound(primaryWithoutStore(null, { config: { pause: true } })), false);
    assert.equal(needsFailsafeRound(input({ dcsOk: false, config: { failsafeMode: true } })), false);
    assert.equal(needsFailsafeRound(asLeader({ config: { failsafeMode: true } })), false);
  });

  it('a dead fence demotes a primary kept by failsafe mode, without touching the unreachable store', () => {
    const i = primaryWithoutStore(round());
    const d = applyFencePolicy(decide(i), i, { mode: 'on', live: false, wasFenced: false });
    assert.equal(d.action, 'demote');
    assert.deepEqual([(d as { releaseLeader: boolean }).releaseLeader, (d as { mode: string }).mode], [false, 'immediate']);
  });
});

describe('failsafe mode: replicas and the leader race', () => {
  const free = (o: InputOverrides = {}, pingedBy: string | null = null): DecideInput => {
    const i = input({ view: view({ leaderName: null, failsafe: TOPOLOGY }), memberHealth: [health('srv3')], ...o, config: { failsafeMode: true, ...o.config } });
    i.failsafe = { round: null, pingedBy };
    return i;
  };

  it('races for a free key when nobody pinged it (the baseline)', () => {
    assert.equal(decide(free()).action, 'acquire-and-promote');
  });

  it('does not race while the primary that pinged it less than ttl ago is alive: it keeps following', () => {
    const d = decide(free({}, 'srv1'));
    assert.equal(d.action, 'follow');
    assert.equal(d.reason, 'no action. I am (srv2), a secondary, and following a leader (srv1)');
    assert.ok(d.notes.some((n) => /failsafe: the leader key is free, but srv1 asked POST \/failsafe less than ttl ago/.test(n.message)));
  });

  it('never races when it is missing from a non-empty failsafe key (added while the primary could not ask it)', () => {
    const d = decide(free({ view: view({ leaderName: null, failsafe: { srv1: TOPOLOGY.srv1, srv3: TOPOLOGY.srv3 } }) }));
    assert.notEqual(d.action, 'acquire-and-promote');
    assert.ok(d.notes.some((n) => /srv2 is not in the failsafe key/.test(n.message)));
    // Failsafe mode off: the key means nothing.
    assert.equal(decide(free({ config: { failsafeMode: false }, view: view({ leaderName: null, failsafe: { srv1: TOPOLOGY.srv1 } }) })).action, 'acquire-and-promote');
  });

  it('asks members only the failsafe key still names, and defers to one that is a running primary', () => {
    const v = view({ leaderName: null, failsafe: TOPOLOGY, members: [member('srv2'), member('srv3')] });
    assert.deepEqual(raceMembers(v, true).map((m) => [m.name, m.apiUrl]), [['srv2', 'http://srv2:8008/patroni'], ['srv3', 'http://srv3:8008/patroni'], ['srv1', TOPOLOGY.srv1]]);
    assert.deepEqual(raceMembers(v, false).map((m) => m.name), ['srv2', 'srv3']);
    const d = decide(free({ view: v, memberHealth: [health('srv1', { role: 'primary' }), health('srv3')] }));
    assert.notEqual(d.action, 'acquire-and-promote');
    assert.ok(d.notes.some((n) => /Primary \(srv1\) is still alive/.test(n.message)), JSON.stringify(d.notes));
  });

  it('measures lag against the position the primary reported in POST /failsafe: a member cut off from its PostgreSQL does not win', () => {
    // srv2's REST API answered the pings, its WAL receiver did not get the writes of the outage.
    const behind = free({}, null);
    behind.failsafe!.leaderLsn = PRIMARY_LSN + 64n * 1024n * 1024n;
    const d = decide(behind);
    assert.notEqual(d.action, 'acquire-and-promote');
    assert.ok(d.notes.some((n) => /My wal position exceeds maximum replication lag/.test(n.message)), JSON.stringify(d.notes));
    behind.failsafe!.leaderLsn = PRIMARY_LSN + 1024n;
    assert.equal(decide(behind).action, 'acquire-and-promote', 'within maximum_lag_on_failover');
  });

  it('the leader writes the failsafe key with every member and itself, only when it changed', () => {
    const v = view({ members: [member('srv2'), member('srv3', { apiUrl: null })] });
    assert.deepEqual(failsafeTopologyToWrite(v, 'srv1', 'http://srv1:8008/patroni'), { srv2: 'http://srv2:8008/patroni', srv1: 'http://srv1:8008/patroni' });
    assert.equal(failsafeTopologyToWrite({ ...v, failsafe: { srv1: 'http://srv1:8008/patroni', srv2: 'http://srv2:8008/patroni' } }, 'srv1', 'http://srv1:8008/patroni'), null);
  });
});

describe('failsafe mode: answering POST /failsafe', () => {
  const replicaSelf = (o: Partial<FailsafeSelf> = {}): FailsafeSelf => ({ name: 'srv2', failsafeMode: true, runsAsPrimary: false, leaderOrPromoting: false, walLsn: 1234n, ...o });
  const clock = () => {
    const c = { now: 0 };
    return { c, state: new FailsafeState(() => c.now) };
  };

  it('accepts the last known leader with its WAL position, and remembers it for ttl', () => {
    const { c, state } = clock();
    state.observe(view());
    assert.deepEqual(state.accept({ name: 'srv1', api_url: TOPOLOGY.srv1 }, replicaSelf()), { status: 200, text: 'Accepted', lsn: '1234' });
    assert.equal(state.pingedBy(30_000), 'srv1');
    assert.equal(state.isActive(30_000), true);
    c.now = 30_000;
    assert.equal(state.pingedBy(30_000), null, 'the promise lasts ttl');
    assert.equal(state.isActive(30_000), false);
  });

  it('refuses when failsafe_mode is off (502), the body names nobody (400), or it runs as a primary (Patroni: 500 Running as a leader)', () => {
    const { state } = clock();
    assert.equal(state.accept({ name: 'srv1' }, replicaSelf({ failsafeMode: false })).status, 502);
    assert.equal(state.accept({ api_url: 'x' }, replicaSelf()).status, 400);
    assert.deepEqual(state.accept({ name: 'srv1' }, replicaSelf({ runsAsPrimary: true })), { status: 500, text: 'Running as a leader' });
    assert.equal(state.pingedBy(30_000), null, 'nothing refused is remembered');
  });

  it('refuses a caller that is not the last known leader, and while it holds or is taking the key itself', () => {
    const { state } = clock();
    state.observe(view({ leaderName: 'srv3' }));
    state.observe(view({ leaderName: null }));
    assert.deepEqual(state.accept({ name: 'srv1' }, replicaSelf()), { status: 500, text: 'the last known leader is srv3, not srv1' });
    assert.equal(state.accept({ name: 'srv3' }, replicaSelf({ leaderOrPromoting: true })).status, 500);
    state.takingKey = true;
    assert.equal(state.accept({ name: 'srv3' }, replicaSelf()).status, 500, 'a race under way refuses');
    state.takingKey = false;
    assert.equal(state.accept({ name: 'srv3' }, replicaSelf()).status, 200);
  });

  it('keeps the WAL position a ping reported past ttl, until the store shows a leader again', () => {
    const { c, state } = clock();
    state.observe(view());
    state.accept({ name: 'srv1', xlog_location: 5000 }, replicaSelf());
    c.now = 60_000;
    state.observe(view({ leaderName: null }));
    assert.equal(state.leaderLsn, 5000n);
    state.observe(view());
    assert.equal(state.leaderLsn, null);
  });

  it('keeps the last failsafe key read, and drops it when the store says there is none', () => {
    const { state } = clock();
    state.observe(view({ failsafe: TOPOLOGY }));
    assert.deepEqual(state.topology, TOPOLOGY);
    state.observe(view());
    assert.equal(state.topology, null);
  });

  it('reads a failsafe key holding anything but an object of strings as none', () => {
    assert.deepEqual(decodeFailsafe('{"a":"http://a/patroni"}'), { a: 'http://a/patroni' });
    assert.equal(decodeFailsafe('{"a":1}'), null);
    assert.equal(decodeFailsafe('[]'), null);
    assert.equal(decodeFailsafe('garbage'), null);
  });
});

describe('failsafe mode: the primary asks every member', () => {
  const ping = { name: 'srv1', conn_url: 'postgres://srv1:5432/postgres', api_url: TOPOLOGY.srv1 };

  it('posts to /failsafe of every other member of the key and reports each answer', async () => {
    const asked: string[] = [];
    const post: PostFailsafe = async (url) => {
      asked.push(url);
      if (url.includes('srv3')) throw new Error('connect ECONNREFUSED');
      return { status: 200, text: 'Accepted' };
    };
    const r = await askFailsafeMembers(TOPOLOGY, ping, { post, monoNow: () => 7 });
    assert.deepEqual(asked.sort(), ['http://srv2:8008/failsafe', 'http://srv3:8008/failsafe']);
    assert.equal(r.sentAtMonoMs, 7);
    assert.deepEqual(r.answers, [
      { name: 'srv2', accepted: true, detail: '200 Accepted' },
      { name: 'srv3', accepted: false, detail: 'no answer: connect ECONNREFUSED' },
    ]);
  });

  it('counts only 200 Accepted as acceptance', async () => {
    const r = await askFailsafeMembers({ srv1: TOPOLOGY.srv1, srv2: TOPOLOGY.srv2 }, ping, { post: async () => ({ status: 200, text: 'OK' }), monoNow: () => 0 });
    assert.equal(r.answers[0]!.accepted, false);
  });

  it('asks nobody without a key or when it is not in the key', async () => {
    const post: PostFailsafe = () => assert.fail('nobody may be asked');
    assert.equal((await askFailsafeMembers(null, ping, { post, monoNow: () => 0 })).refused, 'no failsafe key is known');
    assert.equal((await askFailsafeMembers({ srv2: TOPOLOGY.srv2 }, ping, { post, monoNow: () => 0 })).refused, 'srv1 is not in the failsafe key');
  });

  it('turns the /patroni URL of the key into /failsafe', () => {
    assert.equal(failsafeUrl('https://10.0.0.1:8008/patroni'), 'https://10.0.0.1:8008/failsafe');
  });
});
