// A certain death gives the leader key up at once (issue 17), end to end: three real agents on the
// embedded Raft store with a lease long enough (ttl 30) that a failover before it ends can only come
// from a release, a writer committing every 20 ms to every member, and in sequence on one cluster:
// - kill -9 of the leader's agent and postmaster, the Raft leader on the same host, then on another:
//   the fence releases the key, a replica takes over long before the lease could have ended;
// - kill -9 of the postmaster alone with the data directory made unreadable (restart in place fails):
//   the agent gives the key up;
// - kill -9 of the agent alone: nothing changes by default (the restarted agent resumes as leader);
//   with fence.on_agent_death: kill the fence kills PostgreSQL at once and releases the key.
// Each: no two members acknowledged commits in the same period, and the old member rejoins.
// Needs `npm run build`. Speed is measured in bench/fence/certain-death.ts, not asserted here: the
// bound below (the lease) tells a release from an expiry, whatever the machine's load.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS, TestCluster } from '../helpers/cluster.js';
import { SUITE_MS } from '../helpers/wait.js';
import { agentEvents } from './fault-fixture.js';
import { describeDeath, runDeath, type DeathResult } from './certain-death-scenarios.js';

const TIMING = { ttl: 30, loop_wait: 2, retry_timeout: 5 };
/** A failover that needed the key to expire comes after at least this long (ttl on the Raft leader's clock). */
const LEASE_MS = TIMING.ttl * 1000;

describe('a certain death gives the leader key up at once', { timeout: SUITE_MS * 2 }, () => {
  let cluster: TestCluster;
  const summary: string[] = [];

  before(async () => {
    cluster = await TestCluster.create({ timing: TIMING });
  });

  after(async () => {
    process.stderr.write(`\ncertain-death e2e:\n  ${summary.join('\n  ')}\n`);
    await cluster?.destroy();
  });

  function check(r: DeathResult, expect: { failover: boolean; fenceReleases: boolean }): void {
    summary.push(describeDeath(r));
    process.stderr.write(`${describeDeath(r)}\n`);
    const context = `\n${describeDeath(r)}\nfence log:\n${r.fenceLog}\n${agentEvents(cluster, 40)}`;
    assert.deepEqual(r.analysis.splitBrainWindows, [], `two members acknowledged commits in the same period${context}`);
    assert.equal(r.failedOver, expect.failover, `failover ${expect.failover ? 'expected' : 'not expected'}${context}`);
    assert.ok(r.timeToFirstCommitMs !== null, `no commit after the event${context}`);
    if (expect.failover) assert.ok(r.timeToFirstCommitMs < LEASE_MS, `the new primary came only after ${r.timeToFirstCommitMs} ms: the key expired instead of being released${context}`);
    if (expect.fenceReleases) assert.ok(r.fenceReleased, `the fence did not release the key${context}`);
    assert.ok(r.rejoined, `the old leader did not rejoin${context}`);
  }

  it('bootstraps three members', async () => {
    cluster.startAll();
    await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS);
  });

  it('kill -9 of the leader\'s agent and postmaster, the Raft leader on the same host: the fence releases the key after an election', async () => {
    check(await runDeath(cluster, 'kill-agent-and-postmaster', { raftLeader: 'same' }), { failover: true, fenceReleases: true });
  });

  it('kill -9 of the leader\'s agent and postmaster, the Raft leader on another host', async () => {
    check(await runDeath(cluster, 'kill-agent-and-postmaster', { raftLeader: 'other' }), { failover: true, fenceReleases: true });
  });

  it('kill -9 of the postmaster alone, the restart in place failing (data directory unreadable): the agent gives the key up', async () => {
    check(await runDeath(cluster, 'kill-postmaster-unreadable'), { failover: true, fenceReleases: false });
  });

  it('kill -9 of the agent alone, by default: no failover, the restarted agent resumes as leader', async () => {
    const r = await runDeath(cluster, 'kill-agent', { restartAfterMs: 1000, restartWithKillOption: true });
    check(r, { failover: false, fenceReleases: false });
    assert.equal(r.firstCommitOn, r.oldLeader);
  });

  it('kill -9 of the agent alone with fence.on_agent_death: kill: PostgreSQL is killed at once and the key released', async () => {
    check(await runDeath(cluster, 'kill-agent', { restartAfterMs: 5000, killOptionActive: true }), { failover: true, fenceReleases: true });
  });
});
