// Patroni's acceptance feature `permanent_slots` (features/permanent_slots.feature of patroni/patroni)
// as a cluster run; the rules themselves are unit tests in test/agent/ha/slot-wanted.test.ts. As
// Patroni's harness does, the four members keep their state in one external etcd member (they join one
// by one, and the last scenario shuts three of them down). node1..node4 play postgres0..postgres3, so
// the member slots are named node1..node4; node4 has `replicatefrom: node3`, and the permanent physical
// slot named after a member is `node4` (the feature's `postgres3`).
// Not ported here: the two /status key scenarios (what goes into `slots` and `retain_slots`; unit tests
// in slot-wanted.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS, HEALTHY_WITHIN_MS, sql, TestCluster } from '../helpers/cluster.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { hactl } from '../e2e/fault-fixture.js';
import { shutDown } from './steps.js';

describe("Patroni's permanent_slots feature", { timeout: 900_000 }, () => {
  let etcd: EtcdCluster;
  let cluster: TestCluster;

  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.history(n.name).split('\n').slice(-20).join('\n')}`).join('\n');
  const slotOn = async (name: string, slot: string) =>
    (
      await sql<{ type: string; plugin: string | null; restart: string | null; flush: string | null }>(
        cluster.node(name),
        'SELECT slot_type AS type, plugin, restart_lsn::text AS restart, confirmed_flush_lsn::text AS flush FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      ).catch(() => [])
    )[0] ?? null;

  /** "<member> has a <type> replication slot named <slot>". */
  async function hasSlot(name: string, slot: string, type: 'physical' | 'logical'): Promise<void> {
    await waitUntil(async () => (await slotOn(name, slot))?.type === type, { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `${name} to have a ${type} slot ${slot}` }).catch((err: Error) =>
      assert.fail(`${err.message}\n${logs()}`),
    );
  }

  /** "<Logical|Physical> slot <slot> is in sync between A and B": confirmed_flush_lsn (logical) or restart_lsn (physical) equal. */
  async function inSync(slot: string, a: string, b: string, type: 'physical' | 'logical'): Promise<void> {
    let last = '';
    const lsn = (s: Awaited<ReturnType<typeof slotOn>>) => (type === 'logical' ? s?.flush : s?.restart) ?? null;
    await waitUntil(
      async () => {
        const [x, y] = [lsn(await slotOn(a, slot)), lsn(await slotOn(b, slot))];
        last = `${a} ${x}, ${b} ${y}`;
        return x !== null && x === y;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `${type} slot ${slot} in sync between ${a} and ${b}` },
    ).catch((err: Error) => assert.fail(`${err.message} (last: ${last})\n${logs()}`));
  }

  before(async () => {
    etcd = await EtcdCluster.start({ members: 1 });
    cluster = await TestCluster.create({ size: 4, store: { etcd3: { hosts: etcd.endpoints } }, extraYaml: (name) => (name === 'node4' ? 'tags:\n  replicatefrom: node3\n' : '') });
  });

  after(async () => {
    await cluster?.destroy();
    await etcd?.stop();
  });

  it('physical permanent slots are created, and member slots on the leader and on the cascade source', async () => {
    cluster.startAgent('node1');
    assert.equal(await cluster.waitForHealthy(['node1'], BOOTSTRAPPED_WITHIN_MS), 'node1');
    await cluster.waitForCycles('node1', 1, /INFO: no action\. I am \(node1\), the leader with the lock/);
    const api = (p: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${cluster.node('node1').apiPort}${p}`, { signal: AbortSignal.timeout(30_000), ...init });
    const res = await api('/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ slots: { test_physical: 0, node4: 0 }, postgresql: { parameters: { wal_level: 'logical' } } }) });
    assert.equal(res.status, 200, await res.text());
    await waitUntil(async () => 'slots' in ((await (await api('/config')).json()) as object), { timeoutMs: LIVENESS_MS, what: 'slots in GET /config' });
    for (const n of ['node2', 'node3', 'node4']) cluster.startAgent(n);
    // node4 streams from node3 (replicatefrom), not from the primary: the fixture's "every replica
    // streams from the primary" holds only for the three others (a first run caught node4 in the
    // moments it streamed from node1 after its clone; CI, later, never did).
    assert.equal(await cluster.waitForHealthy(['node1', 'node2', 'node3'], BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`)), 'node1');
    await waitUntil(async () => (await sql<{ n: string }>(cluster.node('node3'), "SELECT count(*)::text AS n FROM pg_stat_replication WHERE application_name = 'node4' AND state = 'streaming'").catch(() => [{ n: '0' }]))[0]!.n === '1', {
      timeoutMs: BOOTSTRAPPED_WITHIN_MS,
      intervalMs: 200,
      what: 'node4 streaming from node3',
    }).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    for (const slot of ['test_physical', 'node2', 'node3']) await hasSlot('node1', slot, 'physical');
    await hasSlot('node3', 'node4', 'physical');
  });

  it('a logical permanent slot is created on the leader after the restart for wal_level (@slot-advance)', async () => {
    const restart = await hactl(['restart', '-c', cluster.node('node1').configPath, cluster.scope, 'node1', '--force'], 120_000);
    assert.equal(restart.status, 0, `${restart.stdout}\n${restart.stderr}`);
    const res = await fetch(`http://127.0.0.1:${cluster.node('node1').apiPort}/config`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slots: { test_logical: { type: 'logical', database: 'postgres', plugin: 'test_decoding' } } }),
      signal: AbortSignal.timeout(30_000),
    });
    assert.equal(res.status, 200, await res.text());
    await hasSlot('node1', 'test_logical', 'logical');
    assert.equal((await slotOn('node1', 'test_logical'))?.plugin, 'test_decoding');
  });

  it('permanent slots are created on the replicas, the logical one in sync (@slot-advance)', async () => {
    await hasSlot('node2', 'test_logical', 'logical');
    for (const n of ['node2', 'node3', 'node4']) await inSync('test_logical', 'node1', n, 'logical');
    for (const n of ['node2', 'node3', 'node4']) await hasSlot(n, 'test_physical', 'physical');
  });

  it('every member holds the physical slots of the other members (@slot-advance)', async () => {
    await hasSlot('node1', 'node4', 'physical');
    for (const [n, others] of [
      ['node2', ['node1', 'node3', 'node4']],
      ['node3', ['node1', 'node4', 'node2']],
      ['node4', ['node1', 'node2', 'node3']],
    ] as const) {
      for (const o of others) await hasSlot(n, o, 'physical');
    }
  });

  it('permanent slots are advanced on the replicas (@slot-advance)', async () => {
    await sql(cluster.node('node1'), 'CREATE TABLE replicate_me (id int)');
    await sql(cluster.node('node1'), "SELECT count(*) FROM pg_logical_slot_get_changes('test_logical', NULL, NULL)");
    await sql(cluster.node('node1'), "SELECT pg_replication_slot_advance('test_physical', pg_current_wal_lsn())");
    for (const n of ['node2', 'node3', 'node4']) {
      await inSync('test_logical', 'node1', n, 'logical');
      await inSync('test_physical', 'node1', n, 'physical');
    }
    for (const n of ['node3', 'node4']) await inSync('node2', 'node1', n, 'physical');
    for (const n of ['node1', 'node2']) await inSync('node4', 'node3', n, 'physical');
  });

  it('after a failover the new leader keeps the permanent and member physical slots', async () => {
    for (const n of ['node4', 'node3', 'node1']) await shutDown(cluster, n);
    assert.equal(await cluster.waitForHealthy(['node2'], HEALTHY_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`)), 'node2');
    for (const slot of ['test_physical', 'node1', 'node4']) await hasSlot('node2', slot, 'physical');
  });
});
