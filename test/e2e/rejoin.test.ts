// Replicas always stream again (issue 13 item 6, "the rejoin hang"): three real agents under a
// steady stream of asynchronous writes, and round after round the primary is killed (-9, agent and
// postmaster), isolated from the other members (when they live in network namespaces, i.e. as
// root) or switched over. After every round each member must be streaming from the one primary
// within a bound: a replica sitting in recovery without a WAL receiver (its timeline forked off
// before the point it had received up to) fails the round, with each member's replication state
// and PostgreSQL log in the message. Needs `npm run build` first.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS, memberStatus, type NodeSpec } from '../helpers/cluster.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { Writer } from '../helpers/writer.js';
import { agentEvents, agentLogs, createFaultCluster, destroyFaultCluster, netSupport, type FaultEnv } from './fault-fixture.js';

const ROUNDS = Number(process.env.HACTL_REJOIN_ROUNDS ?? 21);
/** How long a round may take to give every member a streaming replica again (a rewind included). */
const STREAMING_BOUND_MS = 90_000;

describe('replicas stream again after every kill, isolation and switchover', { timeout: ROUNDS * 150_000 }, () => {
  const env: Partial<FaultEnv> = {};
  let writer: Writer | undefined;
  const rounds: { round: number; event: string; from: string; to: string; ms: number }[] = [];

  const cluster = () => env.cluster!;
  const names = () => cluster().nodes.map((n) => n.name);
  const others = (name: string) => names().filter((n) => n !== name);
  const url = (node: NodeSpec, path: string) => `http://${node.host}:${node.apiPort}${path}`;

  before(async () => {
    Object.assign(env, await createFaultCluster({}));
  });

  after(async () => {
    await writer?.stop().catch(() => {});
    if (rounds.length > 0) process.stderr.write(`rejoin e2e: ${JSON.stringify(rounds)}\n`);
    // For a flake hunt: every agent's events of a passing run too (which rounds rewound, which re-cloned).
    if (process.env.HACTL_REJOIN_TRACE && env.cluster) writeFileSync(process.env.HACTL_REJOIN_TRACE, agentEvents(env.cluster, 5000));
    await destroyFaultCluster(env);
  });

  it(`${ROUNDS} rounds: after each, every replica streams from the primary again`, { timeout: ROUNDS * 150_000 }, async () => {
    cluster().startAll();
    let leader = await cluster().waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${agentLogs(cluster(), 30)}`));
    const targets = cluster().nodes.map((n) => ({ name: n.name, host: n.host, port: n.pgPort }));
    // Asynchronous commits keep WAL flowing, so a replica often holds WAL its new primary never
    // received: exactly the replica that has to be rewound before it can stream again.
    writer = new Writer({ mode: 'multi-host', targets, intervalMs: 20, connectTimeoutMs: 1000, statementTimeoutMs: 10_000 });
    await writer.ensureTable();
    writer.start();
    const events = env.network ? ['kill', 'isolate', 'switchover'] : ['kill', 'switchover'];

    for (let round = 1; round <= ROUNDS; round++) {
      const event = events[(round - 1) % events.length]!;
      const old = leader;
      const before = writer.acks.length;
      await waitUntil(() => writer!.acks.length >= before + 25, { timeoutMs: LIVENESS_MS, what: `writes on ${old} before round ${round}` });
      // The round's premise: `old` is still the one primary. One that moved with no fault injected is
      // a needless failover: say so with every agent's events, not later as a confusing refusal.
      const primaries = await cluster().primaries();
      if (primaries.length !== 1 || primaries[0] !== old) {
        assert.fail(`before round ${round}: the primary moved with no fault injected (expected ${old}, found ${primaries.join(', ') || 'none'})\n${agentEvents(cluster())}`);
      }
      const t0 = Date.now();
      if (event === 'kill') {
        await cluster().killHard(old);
      } else if (event === 'isolate') {
        await env.network!.isolate(cluster().node(old).host);
      } else {
        const candidate = others(old)[round % 2]!;
        // The leader judges the candidate by its own last report: wait until that says streaming.
        await waitUntil(async () => (await memberStatus(cluster().node(candidate)))?.replication_state === 'streaming', {
          timeoutMs: LIVENESS_MS,
          what: `${candidate} reporting streaming`,
        });
        const res = await fetch(url(cluster().node(old), '/switchover'), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ leader: old, candidate }),
          signal: AbortSignal.timeout(60_000),
        });
        assert.equal(res.status, 200, `round ${round} switchover: ${await res.text()}\n${agentEvents(cluster())}`);
      }
      if (event !== 'switchover') {
        // The old primary comes back only once another member has taken over, so it has to rejoin a new timeline.
        await waitUntil(async () => (await cluster().primaries(others(old))).length === 1, { timeoutMs: 60_000, what: `a new primary after round ${round} (${event} ${old})` }).catch(
          async (err: Error) => assert.fail(`${err.message}\n${await cluster().diagnose()}\n${agentEvents(cluster())}`),
        );
        if (event === 'kill') cluster().startAgent(old);
        else await env.network!.heal();
      }
      leader = await cluster()
        .waitForHealthy(undefined, STREAMING_BOUND_MS)
        .catch((err: Error) => assert.fail(`round ${round} (${event} of ${old}): ${err.message}\n${agentEvents(cluster())}`));
      rounds.push({ round, event, from: old, to: leader, ms: Date.now() - t0 });
    }
    await writer.stop();
    assert.equal(rounds.length, ROUNDS);
    assert.ok(rounds.some((r) => r.from !== r.to), 'the primary moved at least once');
  });

  // Isolation rounds run only where the members live in network namespaces (root): without them that
  // part of the scenario did not run, and the report says so instead of passing it.
  it('includes rounds that isolate the primary from the network', { skip: netSupport.ok ? false : netSupport.reason }, (t) => {
    // Not a second failure for one cause: when the rounds test stopped early, it reported why.
    if (rounds.length < ROUNDS) return t.skip(`the rounds test stopped after ${rounds.length} of ${ROUNDS} rounds`);
    assert.ok(rounds.filter((r) => r.event === 'isolate').length >= Math.floor(ROUNDS / 3), JSON.stringify(rounds));
  });
});
