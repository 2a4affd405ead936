// Patroni's acceptance feature `cascading_replication` (features/cascading_replication.feature of
// patroni/patroni) on hactl agents: a replica tagged `clonefrom` serves the base backup of a new
// member, and a member tagged `replicatefrom` streams from that replica instead of the leader. As in
// Patroni's harness the members keep their state in an external etcd, so that they join one by one;
// node1..node3 play postgres-0..postgres-2. Beyond the feature: the cascade is checked on the
// replicas' own views (node2 sends to node3; node1 does not).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS, memberStatus, sql, TestCluster } from '../helpers/cluster.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { readLabel, replicationWorks, writeLabel } from './steps.js';

const TAGS: Record<string, string> = { node1: '', node2: 'tags:\n  clonefrom: true\n', node3: 'tags:\n  replicatefrom: node2\n' };

describe("Patroni's cascading_replication feature", { timeout: 600_000 }, () => {
  let etcd: EtcdCluster;
  let cluster: TestCluster;

  before(async () => {
    etcd = await EtcdCluster.start({ members: 1 });
    cluster = await TestCluster.create({ size: 3, store: { etcd3: { hosts: etcd.endpoints } }, extraYaml: (name) => TAGS[name] ?? '' });
  });

  after(async () => {
    await cluster?.destroy();
    await etcd?.stop();
  });

  it('a base backup from a clonefrom replica, and streaming from it with replicatefrom', async () => {
    cluster.startAgent('node1');
    assert.equal(await cluster.waitForHealthy(['node1'], BOOTSTRAPPED_WITHIN_MS), 'node1');
    cluster.startAgent('node2');
    assert.equal(await cluster.waitForHealthy(['node1', 'node2'], BOOTSTRAPPED_WITHIN_MS), 'node1');
    await replicationWorks(cluster, 'node1', 'node2');
    await writeLabel(cluster, 'node1', 'node1');
    await writeLabel(cluster, 'node2', 'node2');
    await waitUntil(async () => (await memberStatus(cluster.node('node2')))?.state === 'running', { timeoutMs: LIVENESS_MS, intervalMs: 200, what: 'node2 to report state running' });

    cluster.startAgent('node3');
    await replicationWorks(cluster, 'node1', 'node3', BOOTSTRAPPED_WITHIN_MS);
    assert.equal(await readLabel(cluster, 'node3'), 'node2', "node3's data was copied from node2 (clonefrom), not from the leader");
    await cluster.waitForLog('node3', /trying to bootstrap from replica 'node2'/);

    // The cascade: node3's WAL comes from node2, which the leader does not see as its standby.
    const senders = await waitUntil(
      async () => {
        const rows = await sql<{ application_name: string; state: string }>(cluster.node('node2'), 'SELECT application_name, state FROM pg_stat_replication');
        return rows.some((r) => r.application_name === 'node3' && r.state === 'streaming') ? rows : null;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: 'node2 to stream to node3' },
    );
    assert.deepEqual(senders.map((r) => r.application_name), ['node3']);
    const fromLeader = await sql<{ application_name: string }>(cluster.node('node1'), 'SELECT application_name FROM pg_stat_replication ORDER BY 1');
    assert.deepEqual(fromLeader.map((r) => r.application_name), ['node2']);
  });
});
