import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, type DecideInput, type MemberHealth } from '../../../src/agent/ha/index.js';
import { explainFailover, type ExplainRequest, type FailoverExplanation } from '../../../src/agent/ha/race-explanation.js';
import { Rng } from '../../helpers/prng.js';
import { PRIMARY_LSN, health, input, member, replica, view } from './fixtures.js';

/**
 * srv2 answers (a replica of leader srv1); srv3 is the other replica. Every scenario bends one
 * fact and checks the member's verdict and that the reason names the numbers an operator needs.
 */
function explain(o: { input?: DecideInput; candidate?: string | null; kind?: 'failover' | 'switchover'; selfFenceVeto?: string | null; selfWatchdogFailed?: boolean } = {}): FailoverExplanation {
  const req: ExplainRequest = {
    input: o.input ?? input({ memberHealth: peers() }),
    selfWatchdogFailed: o.selfWatchdogFailed ?? false,
    selfFenceVeto: o.selfFenceVeto ?? null,
    candidate: o.candidate ?? null,
    kind: o.kind ?? 'failover',
  };
  return explainFailover(req);
}

/** The leader (a primary) and srv3, a replica 100 bytes behind srv2 unless overridden. */
function peers(srv3: Partial<MemberHealth> = {}, srv1: Partial<MemberHealth> = {}): MemberHealth[] {
  return [health('srv1', { role: 'primary', ...srv1 }), health('srv3', { walLsn: PRIMARY_LSN - 100n, ...srv3 })];
}

function verdict(e: FailoverExplanation, name: string): { code: string | null; reason: string | null } {
  const m = e.members.find((x) => x.name === name);
  assert.ok(m, `${name} is listed: ${JSON.stringify(e.members.map((x) => x.name))}`);
  return { code: m.exclusion?.code ?? null, reason: m.exclusion?.reason ?? null };
}

describe('failover explanation (issue 17: hactl failover --dry-run, GET /failover/candidates)', () => {
  it('names the member that would win if the leader failed now, and why the others would not', () => {
    const e = explain();
    assert.equal(e.scenario, 'leader-lost');
    assert.equal(e.winner, 'srv2');
    assert.deepEqual(e.racers, ['srv2']);
    assert.equal(e.summary, 'if the leader srv1 failed now, srv2 would take the leader key');
    assert.deepEqual(verdict(e, 'srv1').code, 'leader');
    assert.deepEqual(verdict(e, 'srv3'), { code: 'behind', reason: 'srv2 is 100 bytes ahead' });
    assert.deepEqual(e.members.find((m) => m.name === 'srv3')!.notes, ['Wal position of srv2 is ahead of my wal position']);
  });

  it('lag: bytes behind the last primary position against maximum_lag_on_failover', () => {
    const e = explain({ input: input({ memberHealth: peers({ walLsn: PRIMARY_LSN - 2_000_000n }) }) });
    assert.deepEqual(verdict(e, 'srv3'), { code: 'lag', reason: 'lag 2000000 bytes exceeds maximum_lag_on_failover 1048576' });
    assert.equal(e.members.find((m) => m.name === 'srv3')!.lagBytes, 2_000_000n);
    assert.equal(e.winner, 'srv2');
  });

  it('lag of the answering member itself, and nobody left to take over', () => {
    const lagging = replica({ receivedLsn: PRIMARY_LSN - 3_000_000n, replayedLsn: PRIMARY_LSN - 3_000_000n });
    const e = explain({ input: input({ local: lagging, memberHealth: peers({ walLsn: PRIMARY_LSN - 4_000_000n }) }) });
    assert.equal(verdict(e, 'srv2').code, 'lag');
    assert.equal(verdict(e, 'srv3').code, 'lag');
    assert.equal(e.winner, null);
    assert.equal(e.summary, 'if the leader srv1 failed now, no member would take the leader key');
  });

  it('nofailover tag and failover_priority 0', () => {
    const tagged = input({
      view: view({ members: [member('srv1', { role: 'primary' }), member('srv2'), member('srv3', { tags: { nofailover: true } })] }),
      memberHealth: peers({ nofailover: true, failoverPriority: 0, walLsn: PRIMARY_LSN + 10n }),
    });
    assert.deepEqual(verdict(explain({ input: tagged }), 'srv3'), { code: 'nofailover', reason: 'not allowed to promote (tagged nofailover)' });
    assert.equal(explain({ input: tagged }).winner, 'srv2', 'a nofailover member ahead does not hold the others back');
    const zero = input({
      view: view({ members: [member('srv1', { role: 'primary' }), member('srv2'), member('srv3', { tags: { failover_priority: 0 } })] }),
      memberHealth: peers({ nofailover: true, failoverPriority: 0 }),
    });
    assert.deepEqual(verdict(explain({ input: zero }), 'srv3'), { code: 'nofailover', reason: 'not allowed to promote (failover_priority 0)' });
  });

  it('failover_priority decides between members at the same position', () => {
    const e = explain({
      input: input({
        view: view({ members: [member('srv1', { role: 'primary' }), member('srv2'), member('srv3', { tags: { failover_priority: 5 } })] }),
        memberHealth: peers({ walLsn: PRIMARY_LSN, failoverPriority: 5 }),
      }),
    });
    assert.deepEqual(verdict(e, 'srv2'), { code: 'priority', reason: 'srv3 has the same WAL position and a higher failover_priority: 5 > 1' });
    assert.equal(e.winner, 'srv3');
  });

  it('two members level in position and priority both race: no single winner', () => {
    const e = explain({ input: input({ memberHealth: peers({ walLsn: PRIMARY_LSN }) }) });
    assert.equal(e.winner, null);
    assert.deepEqual(e.racers, ['srv2', 'srv3']);
    assert.match(e.summary, /srv2, srv3 would race; the first to take the leader key wins/);
  });

  it('timeline behind the cluster timeline (check_timeline)', () => {
    const history = { lines: [{ timeline: 1, lsn: PRIMARY_LSN - 1000n, reason: '', timestamp: null, newLeader: 'srv1' }], keyVersion: 3 };
    const e = explain({
      input: input({ view: view({ history }), config: { checkTimeline: true }, local: replica({ timeline: 2 }), memberHealth: peers({ timeline: 1 }) }),
    });
    assert.deepEqual(verdict(e, 'srv3'), { code: 'timeline', reason: 'timeline 1 is behind the cluster timeline 2' });
    assert.equal(e.winner, 'srv2');
    // As in Patroni, the race does not look at a peer's timeline: one ahead on an old timeline holds
    // the others back while it stays out itself. The explanation shows that rather than hiding it.
    const stuck = explain({
      input: input({ view: view({ history }), config: { checkTimeline: true }, local: replica({ timeline: 2 }), memberHealth: peers({ timeline: 1, walLsn: PRIMARY_LSN + 5n }) }),
    });
    assert.equal(stuck.winner, null);
    assert.deepEqual(verdict(stuck, 'srv2'), { code: 'behind', reason: 'srv3 is 5 bytes ahead' });
  });

  it('unreachable members are excluded and do not hold the others back', () => {
    const e = explain({ input: input({ memberHealth: peers({ reachable: false, walLsn: PRIMARY_LSN + 100n }) }) });
    assert.deepEqual(verdict(e, 'srv3'), { code: 'unreachable', reason: 'not reachable' });
    assert.equal(e.winner, 'srv2');
  });

  it('synchronous mode: only a listed synchronous standby may take over', () => {
    const sync = { leader: 'srv1', syncStandbys: ['srv3'], quorum: null, keyVersion: 4 };
    const e = explain({ input: input({ view: view({ sync }), config: { synchronousMode: 'on' }, memberHealth: peers() }) });
    assert.equal(verdict(e, 'srv2').code, 'sync');
    assert.match(verdict(e, 'srv2').reason!, /not a synchronous standby in synchronous mode; sync key: leader srv1, synchronous standbys \[srv3\]/);
    assert.equal(e.winner, 'srv3', 'the async member ahead does not stop the sync standby');
  });

  it('fence veto: a member whose fence process is not running would not take the key', () => {
    const veto = 'its fence process is not running, so it would not take the leader key';
    const e = explain({ input: input({ memberHealth: peers({ walLsn: PRIMARY_LSN + 100n, fenceVeto: veto }) }) });
    assert.deepEqual(verdict(e, 'srv3'), { code: 'fence', reason: `vetoed by its fence: ${veto}` });
    assert.equal(e.winner, 'srv2', 'the others do not wait for a member that will not take the key');
    const self = explain({ selfFenceVeto: veto });
    assert.equal(verdict(self, 'srv2').code, 'fence');
    assert.equal(self.winner, 'srv3');
  });

  it('watchdog: a member whose required watchdog failed', () => {
    const e = explain({ input: input({ memberHealth: peers({ watchdogFailed: true, walLsn: PRIMARY_LSN + 1n }) }) });
    assert.deepEqual(verdict(e, 'srv3'), { code: 'watchdog', reason: 'not watchdog capable' });
    assert.equal(e.winner, 'srv2');
  });

  it('paused: nothing races, every member says so', () => {
    const e = explain({ input: input({ config: { pause: true }, memberHealth: peers() }) });
    assert.equal(e.winner, null);
    assert.equal(verdict(e, 'srv2').code, 'paused');
    assert.equal(verdict(e, 'srv3').code, 'paused');
    assert.match(verdict(e, 'srv3').reason!, /paused \(maintenance mode\)/);
  });

  it('a member whose PostgreSQL is not running', () => {
    const e = explain({ input: input({ memberHealth: peers({ state: 'stopped', walLsn: null }) }) });
    assert.deepEqual(verdict(e, 'srv3'), { code: 'not-running', reason: 'PostgreSQL is not running as a replica (stopped)' });
  });

  it('no leader: the race as it stands, the old primary still answering holds everyone back', () => {
    const e = explain({ input: input({ view: view({ leaderName: null }), memberHealth: peers({}, { role: 'primary' }) }) });
    assert.equal(e.scenario, 'no-leader');
    // srv1 still runs as a primary without the key: it takes it back, the replicas wait.
    assert.equal(e.winner, 'srv1');
    assert.deepEqual(verdict(e, 'srv2'), { code: 'primary-alive', reason: 'srv1 is still running as a primary' });
  });

  it('failover to a named candidate while a leader runs: the leader\'s check of it', () => {
    const e = explain({ candidate: 'srv3', input: input({ memberHealth: peers({ walLsn: PRIMARY_LSN - 5_000_000n }) }) });
    assert.equal(e.scenario, 'handover');
    assert.deepEqual(verdict(e, 'srv3'), { code: 'lag', reason: 'lag 5000000 bytes exceeds maximum_lag_on_failover 1048576' });
    assert.deepEqual(e.members.find((m) => m.name === 'srv3')!.notes, ['Member srv3 exceeds maximum replication lag']);
    assert.equal(verdict(e, 'srv2').code, 'manual');
    assert.equal(e.winner, null);
    const ok = explain({ candidate: 'srv3' });
    assert.equal(ok.winner, 'srv3');
    assert.equal(ok.summary, 'a failover to srv3: srv3 would take the leader key');
  });

  it('switchover without a candidate: the leader\'s checks, then the race among those it would hand over to', () => {
    const e = explain({ kind: 'switchover', input: input({ memberHealth: peers({ reachable: false }) }) });
    assert.equal(e.scenario, 'handover');
    assert.equal(verdict(e, 'srv3').code, 'unreachable');
    assert.equal(e.winner, 'srv2');
  });

  it('failover to a candidate that is not a member', () => {
    const e = explain({ candidate: 'srv9' });
    assert.equal(e.winner, null);
    assert.ok(!e.members.some((m) => m.name === 'srv9') || verdict(e, 'srv9').code === 'unreachable');
  });

  it('manual failover without a leader: the candidate races, the others defer to it', () => {
    const e = explain({ candidate: 'srv3', input: input({ view: view({ leaderName: null }), memberHealth: peers({}, { reachable: false }) }) });
    assert.equal(e.scenario, 'manual');
    assert.equal(e.winner, 'srv3');
    assert.equal(verdict(e, 'srv2').code, 'manual');
  });

  it('says for the answering member exactly what its own leader race decides (same code, 500 seeds)', () => {
    for (let seed = 1; seed <= 500; seed += 1) {
      const rng = new Rng(seed);
      const lsn = (): bigint => PRIMARY_LSN - BigInt(rng.pick([0, 0, 50, 2_000_000]));
      const peerHealth = (name: string): MemberHealth =>
        health(name, {
          reachable: rng.chance(0.8),
          walLsn: lsn(),
          failoverPriority: rng.pick([1, 1, 2]),
          watchdogFailed: rng.chance(0.1),
          fenceVeto: rng.chance(0.1) ? 'its fence process is not running, so it would not take the leader key' : null,
          role: rng.chance(0.1) ? 'primary' : 'replica',
        });
      const mine = lsn();
      const base = input({
        view: view({ leaderName: null }),
        local: replica({ receivedLsn: mine, replayedLsn: mine }),
        config: { tags: rng.chance(0.2) ? { failover_priority: rng.pick([0, 2]) } : {}, pause: rng.chance(0.1), checkTimeline: rng.chance(0.5) },
        memberHealth: [peerHealth('srv1'), peerHealth('srv3')],
      });
      const decision = decide(base);
      const e = explain({ input: base });
      const racesInDecide = decision.action === 'acquire-and-promote';
      const racesInExplanation = verdict(e, 'srv2').code === null;
      assert.equal(racesInExplanation, racesInDecide, `seed ${seed}: decide says ${decision.reason}; explanation says ${JSON.stringify(verdict(e, 'srv2'))}`);
      // Patroni's own lines for these already say why: "…I am not allowed to promote", "PAUSE: …".
      if (!racesInDecide && verdict(e, 'srv2').code !== 'nofailover' && verdict(e, 'srv2').code !== 'paused') {
        assert.ok(decision.reason.includes(verdict(e, 'srv2').reason!), `seed ${seed}: the log line names the reason: ${decision.reason}`);
      }
    }
  });
});
