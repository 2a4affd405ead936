import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterJson, ClusterMember } from '../../src/client/index.js';
import { laggingCandidates, nextSwitchoverStep, type SwitchoverAnswers, type SwitchoverInputs, type SwitchoverStep } from '../../src/cli/switchover-plan.js';

const MB = 1024 * 1024;
const m = (name: string, role: ClusterMember['role'], extra: Partial<ClusterMember> = {}): ClusterMember => ({
  name,
  role,
  state: 'running',
  api_url: `http://${name}:8008/patroni`,
  ...extra,
});

const healthy: ClusterJson = {
  scope: 'demo',
  members: [m('node1', 'leader'), m('node2', 'replica', { lag: 0 }), m('node3', 'replica', { lag: 0, tags: { nofailover: true } }), m('node4', 'replica', { lag: 0 })],
};
const now = new Date('2026-11-25T12:00:00Z');

function inputs(over: Partial<SwitchoverInputs> = {}): SwitchoverInputs {
  return { kind: 'switchover', cluster: healthy, force: false, now, ...over };
}

/** Answers every question with `reply`, returns the questions asked and the final step. */
function walk(inp: SwitchoverInputs, reply: (step: SwitchoverStep) => Partial<SwitchoverAnswers>): { asked: string[]; last: SwitchoverStep } {
  const answers: SwitchoverAnswers = {};
  const asked: string[] = [];
  for (let i = 0; i < 10; i++) {
    const step = nextSwitchoverStep(inp, answers);
    if (step.step === 'error' || step.step === 'send') return { asked, last: step };
    asked.push(step.step);
    Object.assign(answers, reply(step));
  }
  throw new Error('dialogue does not end');
}

describe('switchover dialogue', () => {
  it('asks primary, candidate, when and confirmation, in that order, then sends to the leader first', () => {
    const { asked, last } = walk(inputs(), (s) =>
      s.step === 'ask-primary' ? { primary: s.default } : s.step === 'ask-candidate' ? { candidate: 'node2' } : s.step === 'ask-when' ? { when: 'now' } : { confirmed: true },
    );
    assert.deepEqual(asked, ['ask-primary', 'ask-candidate', 'ask-when', 'confirm']);
    assert.equal(last.step, 'send');
    assert.ok(last.step === 'send');
    assert.deepEqual(last.body, { leader: 'node1', candidate: 'node2' });
    assert.equal(last.targets[0], 'http://node1:8008/patroni');
  });

  it('offers only members that may be promoted, sorted, and the current leader as default', () => {
    assert.deepEqual(nextSwitchoverStep(inputs(), {}), { step: 'ask-primary', message: 'Primary', default: 'node1' });
    const cand = nextSwitchoverStep(inputs(), { primary: 'node1' });
    assert.deepEqual(cand, { step: 'ask-candidate', message: 'Candidate', choices: ['node2', 'node4'], allowAny: true });
  });

  it('asks the confirmation in patronictl words', () => {
    const step = nextSwitchoverStep(inputs({ primary: 'node1', candidate: 'node2', scheduled: 'now' }), {});
    assert.deepEqual(step, { step: 'confirm', message: 'Are you sure you want to switchover cluster demo, demoting current leader node1?', abort: 'Aborting switchover' });
    assert.deepEqual(nextSwitchoverStep(inputs({ primary: 'node1', candidate: 'node2', scheduled: 'now' }), { confirmed: false }), { step: 'error', message: 'Aborting switchover' });
  });

  it('with --force asks nothing: current leader, any candidate, now', () => {
    const step = nextSwitchoverStep(inputs({ force: true }), {});
    assert.equal(step.step, 'send');
    assert.ok(step.step === 'send');
    assert.deepEqual(step.body, { leader: 'node1' });
    assert.equal(step.scheduledAt, null);
  });

  it('an empty candidate answer means any healthy member', () => {
    const step = nextSwitchoverStep(inputs({ primary: 'node1', scheduled: 'now' }), { candidate: '', confirmed: true });
    assert.ok(step.step === 'send');
    assert.deepEqual(step.body, { leader: 'node1' });
  });

  it('refuses a cluster without leader, a wrong primary and bad candidates with patronictl messages', () => {
    const noLeader: ClusterJson = { scope: 'demo', members: [m('node2', 'replica')] };
    const err = (inp: SwitchoverInputs, ans: SwitchoverAnswers = {}) => {
      const s = nextSwitchoverStep(inp, ans);
      return s.step === 'error' ? s.message : `no error (${s.step})`;
    };
    assert.equal(err(inputs({ cluster: noLeader })), 'This cluster has no leader');
    assert.equal(err(inputs({ primary: 'node2' })), 'Member node2 is not the leader of cluster demo');
    assert.equal(err(inputs({ force: true, candidate: 'node1' })), 'Member node1 is already the leader of cluster demo');
    assert.equal(err(inputs({ force: true, candidate: 'node3' })), 'Member node3 does not exist in cluster demo or is tagged as nofailover');
    assert.equal(err(inputs({ force: true, candidate: 'nodeX' })), 'Member nodeX does not exist in cluster demo or is tagged as nofailover');
    const onlyLeader: ClusterJson = { scope: 'demo', members: [m('node1', 'leader'), m('node3', 'replica', { tags: { nofailover: true } })] };
    assert.equal(err(inputs({ cluster: onlyLeader, force: true })), 'No candidates found to switchover to');
  });

  it('schedules: parses the time, asks the scheduled confirmation, refuses while paused', () => {
    const inp = inputs({ primary: 'node1', candidate: 'node2', scheduled: '2026-12-01T02:00:00Z' });
    const step = nextSwitchoverStep(inp, {});
    assert.equal(step.step, 'confirm');
    assert.ok(step.step === 'confirm');
    assert.match(step.message, /^Are you sure you want to schedule switchover of cluster demo at 2026-12-01T\d\d:00:00[+-]\d\d:\d\d, demoting current leader node1\?$/);
    const sent = nextSwitchoverStep(inp, { confirmed: true });
    assert.ok(sent.step === 'send');
    assert.equal(Date.parse(sent.body.scheduled_at!), Date.parse('2026-12-01T02:00:00Z'));
    const bad = nextSwitchoverStep(inputs({ force: true, scheduled: 'tomorrow-ish' }), {});
    assert.deepEqual(bad, { step: 'error', message: 'Unable to parse scheduled timestamp (tomorrow-ish). It should be in an unambiguous format (e.g. ISO 8601)' });
    const paused = nextSwitchoverStep(inputs({ cluster: { ...healthy, pause: true }, force: true, scheduled: '2026-12-01T02:00:00Z' }), {});
    assert.deepEqual(paused, { step: 'error', message: "Can't schedule switchover in the paused state" });
  });
});

describe('failover dialogue', () => {
  it('needs a specific candidate', () => {
    assert.deepEqual(nextSwitchoverStep(inputs({ kind: 'failover', force: true }), {}), { step: 'error', message: 'Failover could be performed only to a specific candidate' });
    assert.deepEqual(nextSwitchoverStep(inputs({ kind: 'failover' }), {}), { step: 'ask-candidate', message: 'Candidate', choices: ['node2', 'node4'], allowAny: false });
  });

  it('works without a leader and sends to the candidate\'s agent first', () => {
    const noLeader: ClusterJson = { scope: 'demo', members: [m('node2', 'replica'), m('node4', 'replica')] };
    const step = nextSwitchoverStep(inputs({ kind: 'failover', cluster: noLeader, candidate: 'node4' }), { confirmed: true });
    assert.ok(step.step === 'send');
    assert.deepEqual(step.body, { candidate: 'node4' });
    assert.equal(step.targets[0], 'http://node4:8008/patroni');
    assert.deepEqual(nextSwitchoverStep(inputs({ kind: 'failover', cluster: noLeader, candidate: 'node4' }), {}), {
      step: 'confirm',
      message: 'Are you sure you want to failover cluster demo?',
      abort: 'Aborting failover',
    });
  });

  it('asks again before failing over to an asynchronous member in synchronous mode', () => {
    const sync: ClusterJson = { scope: 'demo', members: [m('node1', 'leader'), m('node2', 'sync_standby'), m('node4', 'replica')] };
    const step = nextSwitchoverStep(inputs({ kind: 'failover', cluster: sync, candidate: 'node4' }), {});
    assert.deepEqual(step, { step: 'confirm-async', message: 'Are you sure you want to failover to the asynchronous node node4?', abort: 'Aborting failover' });
    assert.deepEqual(nextSwitchoverStep(inputs({ kind: 'failover', cluster: sync, candidate: 'node4' }), { asyncConfirmed: false }), { step: 'error', message: 'Aborting failover' });
    assert.equal(nextSwitchoverStep(inputs({ kind: 'failover', cluster: sync, candidate: 'node2' }), {}).step, 'confirm');
  });
});

describe('--wait-for-lag', () => {
  it('waits while the named candidate lags more than maximum_lag_on_failover', () => {
    const c: ClusterJson = { scope: 'demo', members: [m('node1', 'leader'), m('node2', 'replica', { lag: 5 * MB }), m('node4', 'replica', { lag: 0 })] };
    assert.deepEqual(laggingCandidates(c, 'node2', MB), [{ name: 'node2', lagBytes: 5 * MB }]);
    assert.deepEqual(laggingCandidates(c, 'node4', MB), []);
    // Without a named candidate one healthy member is enough.
    assert.deepEqual(laggingCandidates(c, null, MB), []);
    const allBehind: ClusterJson = { scope: 'demo', members: [m('node1', 'leader'), m('node2', 'replica', { lag: 'unknown' })] };
    assert.deepEqual(laggingCandidates(allBehind, null, MB), [{ name: 'node2', lagBytes: 'unknown' }]);
  });
});
