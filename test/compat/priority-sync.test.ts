// Patroni's acceptance feature `priority_sync` (features/priority_sync.feature of patroni/patroni) on
// hactl agents with the embedded Raft store, one four-member cluster for its three scenarios: node1..node4
// play postgres-0..postgres-3, with sync_priority none, 0, 1 and 2.
// 1. in synchronous_mode, a replica with sync_priority 0 never becomes the synchronous standby;
// 2. with synchronous_node_count 1, the replica with the higher sync_priority is picked;
// 3. nosync beside a contradicting sync_priority: a warning, the boolean decides (nosync: true takes the
//    priority-2 member out; nosync: false lets the priority-0 member in once it is the only candidate).
// The feature starts its members one at a time, which a Raft group planned for four members cannot
// serve (no quorum while one or two run). So the group grows as a Patroni Raft user grows it: node1 runs
// alone (`partner_addrs: []`), each later member names the members already running and asks to be
// added. The feature's last step shuts node3 down: three of the four voters remain, a quorum.
// "sync key in DCS has sync_standby=X" is read from GET /cluster, whose `sync_standby` roles are the sync
// key's standbys; the key's `leader` field is not exposed, so "leader=postgres-0" is checked as node1
// leading with an empty synchronous_standby_names.
// Differences: the warning is Patroni's sentence, with hactl's file:line before it; the member key
// keeps the boolean only (the priority it overrides is dropped at load), where Patroni keeps both
// tags. The decisions are the same.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS, HEALTHY_WITHIN_MS, sql, TestCluster } from '../helpers/cluster.js';
import { editMemberConfig } from '../helpers/member-config.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { post, replicationWorks, shutDown } from './steps.js';

const SYNC_PRIORITY: Record<string, number | undefined> = { node1: undefined, node2: 0, node3: 1, node4: 2 };

interface ClusterMemberJson {
  name: string;
  role: string;
  tags?: Record<string, unknown>;
}

describe("Patroni's priority_sync feature", { timeout: 900_000 }, () => {
  let cluster: TestCluster;

  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.history(n.name).split('\n').slice(-25).join('\n')}`).join('\n');
  const members = async (via: string): Promise<ClusterMemberJson[]> => {
    const node = cluster.node(via);
    const res = await fetch(`http://${node.host}:${node.apiPort}/cluster`, { signal: AbortSignal.timeout(10_000) });
    return ((await res.json()) as { members: ClusterMemberJson[] }).members;
  };
  /** The sync key's standbys, as GET /cluster of `via` shows them (sorted). */
  const syncStandbys = async (via: string) =>
    (await members(via))
      .filter((m) => m.role === 'sync_standby')
      .map((m) => m.name)
      .sort();
  const tagsOf = async (via: string, name: string) => (await members(via)).find((m) => m.name === name)?.tags ?? null;
  const waitForSyncStandby = async (via: string, expected: string): Promise<void> => {
    let seen: string[] = [];
    await waitUntil(
      async () => {
        seen = await syncStandbys(via).catch(() => seen);
        return seen.join(',') === expected;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `the sync key (GET /cluster of ${via}) to list sync_standby=${expected}; seen [${seen.join(',')}]` },
    ).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
  };
  const api = (name: string, p: string, init: RequestInit = {}) => {
    const node = cluster.node(name);
    return fetch(`http://${node.host}:${node.apiPort}${p}`, { signal: AbortSignal.timeout(30_000), ...init });
  };
  const patchConfig = async (body: Record<string, unknown>) => {
    const res = await api('node1', '/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 200, await res.text());
  };
  const ssn = async (name: string) => (await sql<{ v: string }>(cluster.node(name), "SELECT current_setting('synchronous_standby_names') AS v"))[0]!.v;

  before(async () => {
    cluster = await TestCluster.create({
      size: 4,
      extraYaml: (name) => (SYNC_PRIORITY[name] === undefined ? '' : `tags:\n  sync_priority: ${SYNC_PRIORITY[name]}\n`),
    });
    // The Raft group grows one member at a time: each member's partners are the members started before it.
    const raftAddr = (i: number) => `${cluster.nodes[i]!.host}:${cluster.nodes[i]!.raftPort}`;
    for (const [i, node] of cluster.nodes.entries()) {
      await editMemberConfig(node.configPath, { 'raft.partner_addrs': cluster.nodes.slice(0, i).map((_, j) => raftAddr(j)) });
    }
  });

  after(async () => {
    await cluster?.destroy();
  });

  it('a replica with sync_priority 0 does not become a synchronous standby', async () => {
    cluster.startAgent('node1');
    assert.equal(await cluster.waitForHealthy(['node1'], BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`)), 'node1');
    // "there is a non empty initialize key in DCS": the bootstrap wrote the cluster's keys, the config key
    // with them (PATCH /config answers 503 "config is not set" until then).
    await waitUntil(async () => (await api('node1', '/config').catch(() => null))?.status === 200, { timeoutMs: LIVENESS_MS, intervalMs: 200, what: "node1's GET /config to answer 200 (the config key written by the bootstrap)" });
    await patchConfig({ ttl: 20, synchronous_mode: true });

    cluster.startAgent('node2');
    assert.equal(await cluster.waitForHealthy(['node1', 'node2'], BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`)), 'node1');
    await replicationWorks(cluster, 'node1', 'node2');
    // node2 streams and node1 has had its chances to pick it: several more cycles, still nobody.
    await cluster.waitForCycles('node1', 5);
    assert.deepEqual(await syncStandbys('node1'), []);
    assert.deepEqual(await syncStandbys('node2'), []);
    assert.equal(await ssn('node1'), '', 'non-strict synchronous mode with no candidate waits for no standby');
    assert.equal((await members('node2')).find((m) => m.name === 'node1')?.role, 'leader');
  });

  it('the replica with the higher sync_priority becomes the synchronous standby', async () => {
    cluster.startAgent('node3');
    cluster.startAgent('node4');
    assert.equal(await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`)), 'node1');
    await replicationWorks(cluster, 'node1', 'node3');
    await replicationWorks(cluster, 'node1', 'node4');
    await patchConfig({ synchronous_node_count: 1 });
    await waitForSyncStandby('node1', 'node4');
    // Seen the same way by a replica (the key, not the leader's memory).
    await waitForSyncStandby('node3', 'node4');
  });

  it('nosync beside a contradicting sync_priority warns, and the boolean decides', async () => {
    await editMemberConfig(cluster.node('node4').configPath, { 'tags.nosync': true });
    assert.equal((await post(cluster, 'node4', '/reload')).status, 202);
    await cluster.waitForLog('node4', /WARNING: .*Conflicting configuration between nosync: True and sync_priority: 2\. Defaulting to nosync: True/);
    await waitUntil(async () => (await tagsOf('node1', 'node4'))?.nosync === true, { timeoutMs: LIVENESS_MS, intervalMs: 200, what: "node4's member key to show nosync: true" });
    await waitForSyncStandby('node1', 'node3');

    await editMemberConfig(cluster.node('node2').configPath, { 'tags.nosync': false });
    assert.equal((await post(cluster, 'node2', '/reload')).status, 202);
    await cluster.waitForLog('node2', /WARNING: .*Conflicting configuration between nosync: False and sync_priority: 0\. Defaulting to nosync: False/);
    await waitUntil(async () => (await tagsOf('node1', 'node2'))?.nosync === false, { timeoutMs: LIVENESS_MS, intervalMs: 200, what: "node2's member key to show nosync: false" });

    // Three of the four Raft voters remain: the store keeps its quorum.
    await shutDown(cluster, 'node3');
    await waitForSyncStandby('node1', 'node2');
    assert.equal(await cluster.waitForHealthy(['node1', 'node2', 'node4'], HEALTHY_WITHIN_MS), 'node1');
  });
});
