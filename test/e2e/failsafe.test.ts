// failsafe_mode end to end (issue 16), real agents and PostgreSQL:
// - embedded Raft, three members each in its own network namespace: the Raft ports are cut (no
//   quorum, no store) while PostgreSQL and the REST APIs stay reachable — the primary keeps accepting
//   writes well past ttl; then one replica's REST port is cut too — the primary demotes; once the
//   links are back the cluster has one primary and streaming replicas again;
// The same on etcd: test/compat/dcs-failsafe-mode.test.ts (Patroni's feature).
// Needs `npm run build` first; run under the e2e lock (COMMON.md).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BOOTSTRAPPED_WITHIN_MS, HEALTHY_WITHIN_MS } from '../helpers/cluster.js';
import { acceptsWrites, enableFailsafe, rest, writesOutliveTheLease } from '../helpers/failsafe.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../helpers/wait.js';
import { agentEvents, createFaultCluster, destroyFaultCluster, netSupport, type FaultEnv } from './fault-fixture.js';

/** ttl raised from the fixture's 6 s: a failsafe round follows a store call that times out (retry_timeout), on a loaded host. */
const FAILSAFE_CONFIG = { failsafe_mode: true, ttl: 12 };

describe('failsafe mode on the embedded Raft store: no quorum, every member reachable', { timeout: SUITE_MS, skip: netSupport.ok ? false : netSupport.reason }, () => {
  let env: FaultEnv;
  let leader: string;
  const logs = () => agentEvents(env.cluster);

  before(async () => {
    env = await createFaultCluster({ requireNetwork: true });
    env.cluster.startAll();
    leader = await env.cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS);
    await enableFailsafe(env.cluster, leader, FAILSAFE_CONFIG);
  });
  after(async () => {
    await destroyFaultCluster(env);
  });

  it('keeps the primary accepting writes past ttl while every member answers POST /failsafe', async () => {
    const { cluster, network } = env;
    for (const node of cluster.nodes) await network!.blockPort(node.host, node.raftPort);
    const t0 = Date.now();
    await cluster.waitForLog(leader, /continue to run as a leader because failsafe mode is enabled and all members are accessible/);
    const accepted = await writesOutliveTheLease(cluster, leader, t0, FAILSAFE_CONFIG.ttl * 1000, logs);
    assert.ok(accepted > 0);
    const primary = await rest(cluster.node(leader), '/primary');
    assert.equal(primary.status, 200, primary.text);
    assert.equal((JSON.parse(primary.text) as { failsafe_mode_is_active?: boolean }).failsafe_mode_is_active, true, primary.text);
    const replica = cluster.nodes.find((n) => n.name !== leader)!;
    assert.match((await rest(replica, '/metrics')).text, /^patroni_failsafe_mode_is_active\{[^}]*\} 1$/m, 'a replica pinged within ttl reports failsafe mode active');
    assert.match((await rest(cluster.node(leader), '/metrics')).text, /^patroni_failsafe_mode_enabled\{[^}]*\} 1$/m);
  });

  it('demotes the primary once a replica\'s REST API stops answering, and recovers when the links are back', async () => {
    const { cluster, network } = env;
    const cut = cluster.nodes.find((n) => n.name !== leader)!;
    await network!.blockPort(cut.host, cut.apiPort);
    await waitUntil(async () => ((await acceptsWrites(cluster.node(leader))) ? null : true), {
      timeoutMs: LIVENESS_MS,
      what: `${leader} to stop accepting writes after ${cut.name}'s REST port was cut`,
    });
    assert.match(cluster.output(leader), new RegExp(`failsafe: not every member accepted POST /failsafe: ${cut.name} \\(no answer`), logs());
    assert.deepEqual(await cluster.primaries(), [], 'nobody runs writable without the store');
    await network!.heal();
    const back = await cluster.waitForHealthy(undefined, HEALTHY_WITHIN_MS);
    assert.ok(await acceptsWrites(cluster.node(back)), `${back} accepts writes again\n${logs()}`);
  });
});
