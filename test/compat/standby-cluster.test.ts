// Patroni's acceptance feature `standby_cluster` (features/standby_cluster.feature and
// features/steps/standby_cluster.py of patroni/patroni), all six scenarios on one run. As Patroni's
// harness does, both clusters keep their state in one external etcd member: the feature's clusters
// have two members and stop one of them, which an embedded Raft store of two would not survive.
// Cast: postgres1 = batman/node1 (first leader), postgres0 = batman/node2; postgres1 then moves, with
// its data directory, into the standby cluster batman1 as batman1/node1, and postgres2 = batman1/node2.
// Differences from the feature, and nothing else:
// - "I do a backup of postgres1" and the backup_restore replica method of batman1 are left out: the
//   standby leader is the existing data directory here, and postgres2 clones from it by basebackup
//   (custom replica methods are ported in backup-restore.test.ts). standby_cluster keeps host, port and
//   primary_slot_name pm_1, as the feature writes them.
// - Each member's callbacks append `<action> <role> <scope>` to `<member>_cb.log` beside its data
//   directory (not in it, so that a clone does not copy it), as in patroni-examples.ts.
// - batman1's bootstrap.dcs sets wal_level logical. postgres1's data directory still holds the
//   logical slot test_logical when it joins batman1, and PostgreSQL 15 refuses to start on it with
//   wal_level replica (FATAL "logical replication slot ... exists, but wal_level < logical"): hactl
//   retried "starting as a secondary" every cycle, its log saying only "database system is shut down".
//   The feature's Patroni starts there; hactl does not yet drop such slots from disk before the start.
// - Timing is the fixture's (ttl 6, loop_wait 1) rather than the feature's ttl 20 / loop_wait 2, so the
//   feature's "after N seconds" become the fixture's liveness bounds.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS, HEALTHY_WITHIN_MS, memberStatus, sql, TestCluster, type NodeSpec } from '../helpers/cluster.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { editMemberConfig } from '../helpers/member-config.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { hactl } from '../e2e/fault-fixture.js';

describe("Patroni's standby_cluster feature", { timeout: 900_000 }, () => {
  let etcd: EtcdCluster;
  let batman: TestCluster;
  let batman1: TestCluster;
  let tables = 0;

  const logs = (c: TestCluster) => c.nodes.map((n) => `--- ${c.scope}/${n.name}\n${c.history(n.name).split('\n').slice(-30).join('\n')}`).join('\n');
  const get = async (node: NodeSpec, p: string) => {
    const res = await fetch(`http://${node.host}:${node.apiPort}${p}`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // a plain-text answer (an error): the code is what is checked
    }
    return { status: res.status, body };
  };
  const cbLog = (node: NodeSpec) => path.join(path.dirname(node.dataDir), `${node.name}_cb.log`);
  const logicalSlot = async (node: NodeSpec, slot: string) =>
    (await sql<{ lsn: string | null }>(node, 'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot]))[0] ?? null;

  /** Callbacks as features/steps/standby_cluster.py sets them: on_start, on_stop, on_restart, on_role_change. */
  async function withCallbacks(node: NodeSpec, log: string): Promise<void> {
    const cmd = `/bin/sh -c 'echo "$1 $2 $3" >> ${log}' callback`;
    await editMemberConfig(node.configPath, { 'postgresql.callbacks': { on_start: cmd, on_stop: cmd, on_restart: cmd, on_role_change: cmd } });
  }

  /** "replication works from A to B" across two clusters (steps.ts's replicationWorks takes both members from one cluster). */
  async function replicationWorks(from: NodeSpec, to: NodeSpec, c: TestCluster): Promise<void> {
    const table = `foo_${++tables}`;
    await sql(from, `CREATE TABLE ${table} (id int)`);
    await waitUntil(async () => (await sql<{ ok: boolean }>(to, `SELECT to_regclass('${table}') IS NOT NULL AS ok`).catch(() => [{ ok: false }]))[0]!.ok, {
      timeoutMs: LIVENESS_MS,
      intervalMs: 200,
      what: `table ${table} to show up on ${c.scope}/${to.name}`,
    }).catch((err: Error) => assert.fail(`${err.message}\n${logs(c)}`));
  }

  /** The member of `c` whose GET /patroni says `role` and running. */
  async function withRole(c: TestCluster, role: string): Promise<string | null> {
    for (const n of c.nodes) {
      const s = await memberStatus(n);
      if (s?.role === role && s.state === 'running' && c.agents.get(n.name)?.hasExited === false) return n.name;
    }
    return null;
  }

  /** "there is a postgres1_cb.log with <lines>": checked once the role it reports has been held for cycles. */
  async function assertCallbackLines(node: NodeSpec, lines: string): Promise<void> {
    const seen = await fs.readFile(cbLog(node), 'utf8').catch(() => '');
    assert.ok(seen.includes(lines), `${node.name}_cb.log does not hold ${JSON.stringify(lines)}:\n${seen}`);
  }

  before(async () => {
    etcd = await EtcdCluster.start({ members: 1 });
    const store = { etcd3: { hosts: etcd.endpoints } };
    batman = await TestCluster.create({ size: 2, scope: 'batman', store });
    batman1 = await TestCluster.create({ size: 2, scope: 'batman1', store });
    for (const n of batman.nodes) await withCallbacks(n, cbLog(n));
  });

  after(async () => {
    await batman1?.destroy();
    await batman?.destroy();
    await etcd?.stop();
  });

  it('prepares the cluster with a physical and a logical permanent slot and wal_level logical', async () => {
    const [postgres1, postgres0] = [batman.node('node1'), batman.node('node2')];
    batman.startAgent('node1');
    assert.equal(await batman.waitForHealthy(['node1'], BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs(batman)}`)), 'node1');
    // "postgres1 is a leader" and "there is a non empty initialize key": the agent has finished its
    // bootstrap (PostgreSQL answers as a primary before that) and the cluster's config key is written.
    await batman.waitForCycles('node1', 1, /INFO: no action\. I am \(node1\), the leader with the lock/);
    await waitUntil(async () => (await get(postgres1, '/config')).status === 200, { timeoutMs: LIVENESS_MS, what: 'GET /config 200 on postgres1' });
    const patch = (body: unknown) =>
      fetch(`http://${postgres1.host}:${postgres1.apiPort}/config`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    let res = await patch({ slots: { pm_1: { type: 'physical' } }, postgresql: { parameters: { wal_level: 'logical' } } });
    assert.equal(res.status, 200, await res.text());
    await waitUntil(async () => 'slots' in (await get(postgres1, '/config')).body, { timeoutMs: LIVENESS_MS, what: 'slots in GET /config' });
    res = await patch({ slots: { test_logical: { type: 'logical', database: 'postgres', plugin: 'test_decoding' } } });
    assert.equal(res.status, 200, await res.text());

    batman.startAgent('node2');
    await waitUntil(async () => (await memberStatus(postgres0))?.state === 'running', { timeoutMs: BOOTSTRAPPED_WITHIN_MS, what: 'postgres0 (node2) running' }).catch((err: Error) =>
      assert.fail(`${err.message}\n${logs(batman)}`),
    );
    await replicationWorks(postgres1, postgres0, batman);
    const status = await get(postgres0, '/patroni');
    assert.equal(status.status, 200);
    await waitUntil(async () => (await get(postgres0, '/patroni')).body.replication_state === 'streaming', { timeoutMs: LIVENESS_MS, what: 'postgres0 replication_state streaming' });
  });

  it('a permanent logical slot is in sync on the replica after a restart of the leader (@slot-advance)', async () => {
    const [postgres1, postgres0] = [batman.node('node1'), batman.node('node2')];
    const restart = await hactl(['restart', '-c', postgres1.configPath, 'batman', 'node1', '--force'], 120_000);
    assert.equal(restart.status, 0, `${restart.stdout}\n${restart.stderr}`);
    let last = '';
    await waitUntil(
      async () => {
        const [a, b] = [await logicalSlot(postgres1, 'test_logical').catch(() => null), await logicalSlot(postgres0, 'test_logical').catch(() => null)];
        last = `postgres1 ${JSON.stringify(a)}, postgres0 ${JSON.stringify(b)}`;
        return a !== null && b !== null && a.lsn !== null && a.lsn === b.lsn;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: 'test_logical with the same confirmed_flush_lsn on postgres1 and postgres0' },
    ).catch((err: Error) => assert.fail(`${err.message}; last seen: ${last}\n${logs(batman)}`));
  });

  it('detaches postgres1: postgres0 becomes the leader, role primary', async () => {
    const postgres0 = batman.node('node2');
    const proc = batman.agents.get('node1')!;
    proc.signal('SIGTERM');
    assert.equal(await proc.exited, 0, 'postgres1 shuts down cleanly');
    assert.equal(await batman.waitForHealthy(['node2'], HEALTHY_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs(batman)}`)), 'node2');
    await waitUntil(async () => (await memberStatus(postgres0))?.role === 'primary', { timeoutMs: LIVENESS_MS, what: 'postgres0 role primary' });
    assert.equal((await get(postgres0, '/')).status, 200);
  });

  it('postgres1 starts a standby cluster batman1 as a clone of postgres0: standby leader, a replica, no logical slot', async () => {
    const postgres0 = batman.node('node2');
    const old = batman.node('node1');
    // postgres1 takes its data directory along (the feature's start_patroni_standby_cluster).
    const postgres1 = batman1.node('node1');
    Object.assign(postgres1, { dataDir: old.dataDir });
    const postgres2 = batman1.node('node2');
    await editMemberConfig(postgres1.configPath, {
      'postgresql.data_dir': old.dataDir,
      'bootstrap.dcs.standby_cluster': { host: postgres0.host, port: postgres0.pgPort, primary_slot_name: 'pm_1', create_replica_methods: ['basebackup'] },
      // See the header: PostgreSQL 15 does not start on a data directory holding a logical slot with wal_level replica.
      'bootstrap.dcs.postgresql.parameters.wal_level': 'logical',
    });
    await withCallbacks(postgres1, cbLog(old));
    await withCallbacks(postgres2, cbLog(postgres2));
    batman1.startAgent('node1');
    await waitUntil(() => withRole(batman1, 'standby_leader').then((n) => n === 'node1'), { timeoutMs: BOOTSTRAPPED_WITHIN_MS, what: 'postgres1 standby leader of batman1' }).catch(
      (err: Error) => assert.fail(`${err.message}\n${logs(batman1)}`),
    );
    await replicationWorks(postgres0, postgres1, batman1);
    await waitUntil(async () => (await get(postgres1, '/patroni')).body.replication_state === 'streaming', { timeoutMs: LIVENESS_MS, what: 'postgres1 replication_state streaming' });
    assert.equal((await get(postgres1, '/primary')).status, 503);
    const sl = await get(postgres1, '/standby_leader');
    assert.equal(sl.status, 200);
    assert.equal(sl.body.role, 'standby_leader');

    batman1.startAgent('node2');
    await waitUntil(async () => (await memberStatus(postgres2))?.role === 'replica', { timeoutMs: BOOTSTRAPPED_WITHIN_MS, what: 'postgres2 role replica' }).catch((err: Error) =>
      assert.fail(`${err.message}\n${logs(batman1)}`),
    );
    await replicationWorks(postgres0, postgres2, batman1);
    await waitUntil(async () => (await get(postgres2, '/patroni')).body.replication_state === 'streaming', { timeoutMs: LIVENESS_MS, what: 'postgres2 replication_state streaming' });
    // batman1 has no permanent slots: the logical slot postgres1 brought along goes.
    await waitUntil(async () => (await logicalSlot(postgres1, 'test_logical')) === null, { timeoutMs: LIVENESS_MS, what: 'no test_logical slot on postgres1' }).catch((err: Error) =>
      assert.fail(`${err.message}\n${logs(batman1)}`),
    );
  });

  it('postgres1_cb.log holds "on_role_change standby_leader batman1"', async () => {
    await batman1.waitForCycles('node1', 2, /INFO: no action\. I am \(node1\), the standby leader with the lock/);
    await assertCallbackLines(batman.node('node1'), 'on_role_change standby_leader batman1');
  });

  it('a switchover in batman1 gives the standby leader role to postgres2', async () => {
    const postgres2 = batman1.node('node2');
    const sw = await hactl(['switchover', '-c', postgres2.configPath, 'batman1', '--force'], 120_000);
    assert.equal(sw.status, 0, `${sw.stdout}\n${sw.stderr}\n${logs(batman1)}`);
    await waitUntil(async () => (await get(postgres2, '/standby_leader').catch(() => ({ status: 0, body: {} }))).status === 200, { timeoutMs: HEALTHY_WITHIN_MS, what: 'postgres2 GET /standby_leader 200' }).catch(
      (err: Error) => assert.fail(`${err.message}\n${logs(batman1)}`),
    );
    assert.equal((await get(postgres2, '/standby_leader')).body.role, 'standby_leader');
  });

  it('a failover in batman1 after kill of agent and postmaster: postgres1 replicates from postgres0 again', async () => {
    const postgres0 = batman.node('node2');
    const postgres1 = batman1.node('node1');
    await batman1.killHard('node2');
    await waitUntil(
      async () => (await sql(postgres0, "SELECT 1 FROM pg_stat_replication WHERE application_name = 'node1'").catch(() => [])).length > 0,
      { timeoutMs: HEALTHY_WITHIN_MS, intervalMs: 500, what: 'postgres1 (batman1/node1) replicating from postgres0' },
    ).catch((err: Error) => assert.fail(`${err.message}\n${logs(batman1)}`));
    assert.equal((await get(postgres1, '/primary')).status, 503);
    await waitUntil(async () => (await get(postgres1, '/standby_leader')).status === 200, { timeoutMs: HEALTHY_WITHIN_MS, what: 'postgres1 GET /standby_leader 200' }).catch((err: Error) =>
      assert.fail(`${err.message}\n${logs(batman1)}`),
    );
    assert.equal((await get(postgres1, '/standby_leader')).body.role, 'standby_leader');
    await replicationWorks(postgres0, postgres1, batman1);
  });

  it('postgres1_cb.log holds "on_start replica batman1" then "on_role_change standby_leader batman1"', async () => {
    await batman1.waitForCycles('node1', 2, /INFO: no action\. I am \(node1\), the standby leader with the lock/);
    await assertCallbackLines(batman.node('node1'), 'on_start replica batman1\non_role_change standby_leader batman1');
  });
});
