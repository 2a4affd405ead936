// Patroni's features/ignored_slots.feature, scenario "check ignored slots aren't removed on
// failover/switchover", on real agents and PostgreSQL 15. The feature's two members run on etcd; with
// the embedded Raft store a member stopped must leave a quorum, so a third member (tagged nofailover, so
// the feature's two members keep the roles it describes) is added. The facts checked are the feature's:
// slots matched by ignore_slots (any subset of name/type/database/plugin) survive on a primary that
// becomes a replica and a primary again, and an unknown logical slot does not survive on the replica.
// One deliberate difference: Patroni drops dummy_slot on the primary right away; hactl drops on a
// primary only the slots it made (a consumer's slot survives), so the feature's "Patroni can end up
// dropping them almost immediately" does not happen here, and dummy_slot goes once the member is a replica.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS, HEALTHY_WITHIN_MS, sql, TestCluster } from '../helpers/cluster.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';

const IGNORE = [
  { name: 'unmanaged_slot_0', database: 'postgres', plugin: 'test_decoding', type: 'logical' },
  { name: 'unmanaged_slot_1', database: 'postgres', plugin: 'test_decoding' },
  { name: 'unmanaged_slot_2', database: 'postgres' },
  { name: 'unmanaged_slot_3' },
];
const IGNORED = IGNORE.map((r) => r.name);

describe("Patroni's ignored_slots feature", { timeout: 600_000 }, () => {
  let cluster: TestCluster;
  let first = '';
  let second = '';

  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.history(n.name).split('\n').slice(-25).join('\n')}`).join('\n');
  const logicalSlots = async (name: string) =>
    (await sql<{ slot_name: string }>(cluster.node(name), "SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'logical' AND plugin = 'test_decoding' ORDER BY 1")).map((r) => r.slot_name);
  const api = (name: string, p: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${cluster.node(name).apiPort}${p}`, { signal: AbortSignal.timeout(30_000), ...init });

  /** Patroni's "I shut down postgres-N": the agent stops (and with it PostgreSQL); the other member takes over. */
  async function shutDown(name: string, expectLeader: string): Promise<void> {
    const proc = cluster.agents.get(name)!;
    proc.signal('SIGTERM');
    await proc.exited;
    const leader = await cluster.waitForHealthy(cluster.nodes.map((n) => n.name).filter((n) => n !== name), HEALTHY_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    assert.equal(leader, expectLeader);
  }

  before(async () => {
    cluster = await TestCluster.create({ size: 3, extraYaml: (name) => (name === 'node3' ? 'tags:\n  nofailover: true\n' : '') });
    cluster.startAll();
    first = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    assert.notEqual(first, 'node3', 'a nofailover member never leads');
    second = first === 'node1' ? 'node2' : 'node1';
  });

  after(async () => {
    await cluster?.destroy();
  });

  it('PATCH /config sets ignore_slots and wal_level logical; a restart applies the latter', async () => {
    const res = await api(first, '/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ignore_slots: IGNORE, postgresql: { parameters: { wal_level: 'logical' } } }) });
    assert.equal(res.status, 200, await res.text());
    await waitUntil(async () => JSON.stringify(await (await api(first, '/config')).json()).includes('ignore_slots'), { timeoutMs: LIVENESS_MS, what: 'ignore_slots in GET /config' });
    for (const n of cluster.nodes) {
      await waitUntil(async () => ((await (await api(n.name, '/patroni')).json()) as { pending_restart?: boolean }).pending_restart === true, { timeoutMs: LIVENESS_MS, what: `pending_restart on ${n.name}` });
      const restart = await api(n.name, '/restart', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(restart.status, 200, `restart ${n.name}: ${await restart.text()}`);
    }
    await cluster.waitForHealthy(undefined, HEALTHY_WITHIN_MS);
    for (const n of cluster.nodes) assert.equal((await sql<{ v: string }>(n, "SELECT current_setting('wal_level') AS v"))[0]!.v, 'logical');
  });

  it('the slots it creates by hand are there on the primary', async () => {
    for (const slot of [...IGNORED, 'dummy_slot']) await sql(cluster.node(first), "SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [slot]);
    await cluster.waitForCycles(first, 3, new RegExp(`INFO: no action\\. I am \\(${first}\\), the leader with the lock`));
    assert.deepEqual(await logicalSlots(first), [...IGNORED, 'dummy_slot'].sort());
    // The replica must have replayed past the slots' creation before it is promoted.
    const [{ lsn }] = (await sql<{ lsn: string }>(cluster.node(first), 'SELECT pg_current_wal_lsn()::text AS lsn')) as [{ lsn: string }];
    await waitUntil(async () => (await sql<{ ok: boolean }>(cluster.node(second), 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]))[0]!.ok, { timeoutMs: LIVENESS_MS, what: `${second} replaying past ${lsn}` });
  });

  it('after a failover the old primary, now a replica, keeps the ignored slots and loses dummy_slot', async () => {
    await shutDown(first, second);
    cluster.startAgent(first);
    await cluster.waitForHealthy(undefined, HEALTHY_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    await waitUntil(async () => !(await logicalSlots(first)).includes('dummy_slot'), { timeoutMs: LIVENESS_MS, what: `dummy_slot dropped on ${first}` }).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    assert.deepEqual(await logicalSlots(first), IGNORED);
  });

  it('after the next failover it is the primary again and still has them', async () => {
    await shutDown(second, first);
    await cluster.waitForCycles(first, 2, new RegExp(`INFO: no action\\. I am \\(${first}\\), the leader with the lock`));
    assert.deepEqual(await logicalSlots(first), IGNORED);
  });
});
