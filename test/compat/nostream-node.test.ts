// Patroni's acceptance feature `nostream_node` (features/nostream_node.feature of patroni/patroni,
// master de6b22c8) as one run: scenario 1 (a nostream member recovers from the archive; also ported with
// a custom replica method in backup-restore.test.ts) sets the cluster up, scenario 2 checks that the
// permanent logical slot is copied neither to the nostream member nor to a member replicating from it
// (their WAL does not come through a slot on the primary, so nothing would hold the catalog rows the
// slot needs), and scenario 3 what the leader publishes in the status key's `slots`.
// As in Patroni's harness the members keep their state in one etcd member (the feature starts postgres-0
// alone, which a three-member Raft store cannot serve), every member archives its WAL and has a
// restore_command; node1..node3 play postgres-0..postgres-2, so the member slots are node1..node3.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS, sql, TestCluster } from '../helpers/cluster.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { editMemberConfig } from '../helpers/member-config.js';
import { tempDirForPostgres } from '../helpers/postgres.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { hactl } from '../e2e/fault-fixture.js';
import { dcsKey } from './steps.js';

const TAGS: Record<string, string> = { node1: '', node2: 'tags:\n  nostream: true\n', node3: 'tags:\n  replicatefrom: node2\n' };

describe("Patroni's nostream_node feature: permanent logical slots and the status key", { timeout: 600_000 }, () => {
  let etcd: EtcdCluster;
  let cluster: TestCluster;
  let archive = '';

  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.history(n.name).split('\n').slice(-25).join('\n')}`).join('\n');
  const withLogs = (err: Error): never => assert.fail(`${err.message}\n${logs()}`);
  const slotNames = async (name: string) => (await sql<{ slot_name: string; slot_type: string }>(cluster.node(name), 'SELECT slot_name, slot_type FROM pg_replication_slots ORDER BY 1')).map((r) => `${r.slot_name}:${r.slot_type}`);

  /** `"members/<name>" key in DCS has replication_state=<state>`. */
  async function memberKeyHas(name: string, state: string, timeoutMs = LIVENESS_MS): Promise<void> {
    let seen: unknown = null;
    await waitUntil(async () => (seen = (await dcsKey(etcd, cluster.scope, `members/${name}`))?.replication_state) === state, {
      timeoutMs,
      intervalMs: 200,
      what: `members/${name} to have replication_state=${state}`,
    }).catch((err: Error) => withLogs(new Error(`${err.message}; last seen ${JSON.stringify(seen)}`)));
  }

  /** "<member> has a logical replication slot named <slot> with the <plugin> plugin". */
  async function hasLogicalSlot(name: string, slot: string, plugin: string): Promise<void> {
    let seen: { slot_type: string; plugin: string } | null = null;
    await waitUntil(
      async () => {
        seen = (await sql<{ slot_type: string; plugin: string }>(cluster.node(name), 'SELECT slot_type, plugin FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => []))[0] ?? null;
        // A logical slot being created is listed before its plugin is set (pg_create_logical_replication_slot
        // names it first, then builds its snapshot): wait for the finished slot, then compare.
        return seen !== null && seen.plugin !== '';
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `${name} to have a replication slot ${slot}` },
    ).catch(withLogs);
    assert.deepEqual(seen, { slot_type: 'logical', plugin });
  }

  before(async () => {
    etcd = await EtcdCluster.start({ members: 1 });
    cluster = await TestCluster.create({ size: 3, store: { etcd3: { hosts: etcd.endpoints } }, extraYaml: (name) => TAGS[name] ?? '' });
    archive = await tempDirForPostgres('hactl-archive-');
    for (const node of cluster.nodes) {
      await editMemberConfig(node.configPath, {
        'postgresql.parameters.archive_mode': 'on',
        'postgresql.parameters.archive_command': `test ! -f ${archive}/%f && cp %p ${archive}/%f`,
        'postgresql.recovery_conf': { restore_command: `cp ${archive}/%f %p` },
      });
    }
  });

  after(async () => {
    await cluster?.destroy();
    await etcd?.stop();
    if (archive) await fs.rm(archive, { recursive: true, force: true });
  });

  it('a nostream member recovers from the archive (scenario 1, the setup of the others)', async () => {
    cluster.startAgent('node1');
    assert.equal(await cluster.waitForHealthy(['node1'], BOOTSTRAPPED_WITHIN_MS).catch(withLogs), 'node1');
    cluster.startAgent('node2');
    await memberKeyHas('node2', 'in archive recovery', BOOTSTRAPPED_WITHIN_MS);
    // "replication works from postgres-0 to postgres-1": through the archive, once the segment is switched.
    await sql(cluster.node('node1'), 'CREATE TABLE through_archive (id int)');
    await sql(cluster.node('node1'), 'SELECT pg_switch_wal()');
    await waitUntil(async () => (await sql<{ ok: boolean }>(cluster.node('node2'), "SELECT to_regclass('through_archive') IS NOT NULL AS ok").catch(() => [{ ok: false }]))[0]!.ok, {
      timeoutMs: LIVENESS_MS,
      intervalMs: 200,
      what: 'the table created on node1 to reach node2 through the archive',
    }).catch(withLogs);
  });

  it('the permanent logical slot is created on the leader after the restart for wal_level', async () => {
    const res = await fetch(`http://127.0.0.1:${cluster.node('node1').apiPort}/config`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ postgresql: { parameters: { wal_level: 'logical' } }, slots: { test_logical: { type: 'logical', database: 'postgres', plugin: 'test_decoding' } } }),
      signal: AbortSignal.timeout(30_000),
    });
    assert.equal(res.status, 200, await res.text());
    const restart = await hactl(['restart', '-c', cluster.node('node1').configPath, cluster.scope, 'node1', '--force'], 120_000);
    assert.equal(restart.status, 0, `${restart.stdout}\n${restart.stderr}`);
    await hasLogicalSlot('node1', 'test_logical', 'test_decoding');
  });

  it('the permanent logical slot is copied neither to the nostream member nor to the member replicating from it', async () => {
    cluster.startAgent('node3');
    await memberKeyHas('node3', 'streaming', BOOTSTRAPPED_WITHIN_MS);
    // node3's WAL comes from the nostream member, through the slot node2 keeps for it.
    let senders: unknown = null;
    await waitUntil(
      async () => JSON.stringify((senders = await sql(cluster.node('node2'), 'SELECT application_name, state FROM pg_stat_replication'))) === JSON.stringify([{ application_name: 'node3', state: 'streaming' }]),
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: 'node2 (nostream) to stream to node3, and to nobody else' },
    ).catch((err: Error) => withLogs(new Error(`${err.message}; last seen ${JSON.stringify(senders)}`)));
    // Absence proves something only once both agents have done their slot work with the slot known:
    // a few cycles each after node3 streams, and the physical slots they do keep are there.
    await cluster.waitForCycles('node2', 3);
    await cluster.waitForCycles('node3', 3);
    assert.ok((await slotNames('node2')).includes('node3:physical'), `node2 keeps the slot node3 streams through: ${(await slotNames('node2')).join(' ')}`);
    for (const name of ['node2', 'node3']) {
      const slots = await slotNames(name);
      assert.ok(!slots.some((s) => s.startsWith('test_logical:')), `${name} has no test_logical: ${slots.join(' ')}`);
    }
    assert.ok((await slotNames('node1')).includes('test_logical:logical'), 'the leader still has it');
  });

  it("the status key's slots: the leader's and the streaming members' physical slots, the permanent logical slot, not the nostream member", async () => {
    let seen: Record<string, unknown> = {};
    await waitUntil(
      async () => {
        seen = ((await dcsKey(etcd, cluster.scope, 'status'))?.slots ?? {}) as Record<string, unknown>;
        return ['node1', 'node3', 'test_logical'].every((s) => s in seen);
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: 'the status key to have node1, node3 and test_logical in slots' },
    ).catch((err: Error) => withLogs(new Error(`${err.message}; last seen ${JSON.stringify(seen)}`)));
    assert.ok(!('node2' in seen), `the status key has no slot for the nostream member: ${JSON.stringify(seen)}`);
    for (const [name, lsn] of Object.entries(seen)) assert.ok(typeof lsn === 'number' && lsn > 0, `slot ${name} is published with a position: ${JSON.stringify(seen)}`);
  });
});
