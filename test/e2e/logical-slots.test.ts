// A logical consumer across failovers (issue 16): a three-member cluster with the permanent logical slot
// `cdc` (test_decoding), real agents and PostgreSQL 15. One pg_recvlogical process, started once, reads
// through a multi-host connection string (target_session_attrs=read-write) while a writer inserts
// numbered rows; five switchovers move the primary round the members (switchovers rather than kill -9, to
// keep the wall time down: what is tested is the slot on the promoted member, which a switchover
// promotes as a failover does). The replicas hold copies of the slot (copied from the primary, then
// advanced to the positions it publishes), so after each promotion the consumer resumes on the new
// primary: every acknowledged number must arrive at least once, and the consumer is never restarted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findBinaries } from '../../src/postgres/binaries.js';
import { BOOTSTRAPPED_WITHIN_MS, memberStatus, sql, TestCluster } from '../helpers/cluster.js';
import type { ManagedProcess } from '../helpers/process.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { multiHostConninfo, Writer, writerTargets } from '../helpers/writer.js';
import { agentEvents } from './fault-fixture.js';

const SWITCHOVERS = 5;

/** Adds the permanent logical slot and wal_level logical to every member's bootstrap.dcs. */
function withLogicalSlot(cluster: TestCluster): void {
  for (const node of cluster.nodes) {
    const text = readFileSync(node.configPath, 'utf8');
    const patched = text
      .replace(/^ {2}dcs:\n/m, '  dcs:\n    slots:\n      cdc:\n        type: logical\n        database: postgres\n        plugin: test_decoding\n')
      .replace(/^ {6}parameters:\n/m, '      parameters:\n        wal_level: logical\n');
    assert.equal((patched.match(/cdc:|wal_level: logical/g) ?? []).length, 2, `could not patch ${node.configPath}`);
    writeFileSync(node.configPath, patched, { mode: 0o600 });
  }
}

describe('a logical consumer on a permanent slot across five switchovers', { timeout: 900_000 }, () => {
  let cluster: TestCluster;
  let writer: Writer;
  let consumer: ManagedProcess;
  let dir: string;
  let outFile: string;
  /** The primary as the last step left it. */
  let expectedLeader = '';

  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.history(n.name).split('\n').slice(-30).join('\n')}`).join('\n');
  /** Numbers the consumer has written out so far (test_decoding: `id[bigint]:N`). */
  const received = (): Set<number> => {
    let text = '';
    try {
      text = readFileSync(outFile, 'utf8');
    } catch {
      return new Set(); // not created yet
    }
    return new Set([...text.matchAll(/ id\[bigint\]:(\d+)/g)].map((m) => Number(m[1])));
  };
  const hasSlot = async (name: string) => (await sql(cluster.node(name), "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'cdc' AND slot_type = 'logical'").catch(() => [])).length === 1;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'hactl-cdc-'));
    outFile = path.join(dir, 'changes.txt');
    cluster = await TestCluster.create({ size: 3 });
    withLogicalSlot(cluster);
    cluster.startAll();
    expectedLeader = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
  });

  /**
   * The one primary, which must still be the one the last step left: a primary that moved (or a moment
   * without one) with no fault injected is a needless failover, reported with what every agent did
   * rather than as a confusing failure further on (CI once found no primary right after the first step).
   */
  const stillLeader = async (): Promise<string> => {
    const primaries = await cluster.primaries();
    if (primaries.length !== 1 || primaries[0] !== expectedLeader) {
      assert.fail(`the primary moved with no fault injected (expected ${expectedLeader}, found ${primaries.join(', ') || 'none'})\n${agentEvents(cluster)}`);
    }
    return expectedLeader;
  };

  after(async () => {
    await writer?.stop().catch(() => {});
    await cluster?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('has the slot on the primary and copies of it on both replicas', async () => {
    // hot_standby_feedback is enforced on members that keep a permanent logical slot (Patroni does the
    // same; it matters on the replicas, the primary has it too, for when it becomes one).
    for (const n of cluster.nodes) {
      const setting = async () => (await sql<{ v: string }>(n, "SELECT current_setting('hot_standby_feedback') AS v").catch(() => []))[0]?.v;
      await waitUntil(async () => (await setting()) === 'on', { timeoutMs: LIVENESS_MS, what: `hot_standby_feedback on ${n.name}` });
    }
    for (const n of cluster.nodes) {
      await waitUntil(() => hasSlot(n.name), { timeoutMs: 120_000, what: `logical slot cdc on ${n.name}` }).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    }
  });

  it('completes a copy made on a replica whose WAL starts after the slot\'s restart_lsn with the WAL fetched from the primary', async () => {
    // The slot has no consumer yet, so the primary's restart_lsn stays where it was made. A replica that drops
    // its copy and then removes its old WAL (a restartpoint after segment switches) starts its pg_wal after it:
    // a copy of the state file alone would leave it unable to decode ("requested WAL segment ... has already
    // been removed" once promoted), seen in CI rehearsals after switchover 1.
    const leader = await stillLeader();
    const replica = cluster.nodes.find((n) => n.name !== leader)!;
    const patch = async (body: object) => {
      const res = await fetch(`http://127.0.0.1:${cluster.node(leader).apiPort}/config`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 200, await res.text());
    };
    const segSize = BigInt((await sql<{ setting: string }>(cluster.node(leader), "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'"))[0]!.setting);
    const segnoOf = (lsn: string): bigint => {
      const [hi, lo] = lsn.split('/') as [string, string];
      return ((BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)) / segSize;
    };
    const oldestSegno = async (): Promise<bigint> => {
      const names = (await sql<{ name: string }>(replica, "SELECT name FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'")).map((r) => r.name);
      return names.map((n) => BigInt(`0x${n.slice(8, 16)}`) * (0x100000000n / segSize) + BigInt(`0x${n.slice(16)}`)).reduce((a, b) => (b < a ? b : a));
    };
    const slotSegno = segnoOf((await sql<{ lsn: string }>(cluster.node(leader), "SELECT restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'cdc'"))[0]!.lsn);
    await patch({ pause: true });
    try {
      await waitUntil(async () => (await memberStatus(replica))?.pause === true, { timeoutMs: LIVENESS_MS, what: `${replica.name} to see the pause` });
      await sql(replica, "SELECT pg_drop_replication_slot('cdc')");
      // Past wal_keep_size (128MB, 8 segments of 16MB, Patroni's default) and then some.
      for (let i = 0; i < 11; i++) {
        await sql(cluster.node(leader), 'CREATE TABLE IF NOT EXISTS wal_filler (x int); INSERT INTO wal_filler VALUES (1)');
        await sql(cluster.node(leader), 'SELECT pg_switch_wal()');
      }
      await sql(cluster.node(leader), 'CHECKPOINT');
      const target = (await sql<{ lsn: string }>(cluster.node(leader), 'SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
      await waitUntil(async () => (await sql<{ ok: boolean }>(replica, `SELECT pg_last_wal_replay_lsn() >= '${target}'::pg_lsn AS ok`))[0]?.ok === true, { timeoutMs: LIVENESS_MS, what: `${replica.name} to replay ${target}` });
      // The replica's physical slots for the other members hold WAL too; the agent, paused, does not advance
      // them to the leader's positions now, so the test does.
      await sql(replica, "SELECT pg_replication_slot_advance(slot_name, pg_last_wal_replay_lsn()) FROM pg_replication_slots WHERE slot_type = 'physical' AND restart_lsn IS NOT NULL");
      await sql(replica, 'CHECKPOINT'); // a restartpoint: the WAL no slot holds any more goes
      const oldest = await oldestSegno();
      assert.ok(oldest > slotSegno, `${replica.name}'s oldest WAL segment ${oldest} should be past the slot's ${slotSegno} for this test to mean anything`);
    } finally {
      await patch({ pause: false });
    }
    await waitUntil(() => hasSlot(replica.name), { timeoutMs: 120_000, what: `logical slot cdc copied again on ${replica.name}` }).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    const copied = (await sql<{ lsn: string }>(replica, "SELECT restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'cdc'"))[0]!.lsn;
    assert.ok((await oldestSegno()) <= segnoOf(copied), `${replica.name} holds the WAL from the copied slot's restart_lsn ${copied}\n${logs()}`);
  });

  it('delivers every acknowledged number at least once to one consumer process while the primary moves five times', async () => {
    const targets = writerTargets(cluster.nodes);
    writer = new Writer({ mode: 'multi-host', targets, intervalMs: 20 });
    await writer.ensureTable();
    const bin = path.join((await findBinaries()).binDir, 'pg_recvlogical');
    // connect_timeout: a stopped host must not hold the walk through the list up.
    const conninfo = `${multiHostConninfo(targets)}&connect_timeout=2`;
    consumer = cluster.registry.spawn('pg_recvlogical', bin, ['-d', conninfo, '--slot', 'cdc', '--start', '-f', outFile, '-F', '1', '-s', '1', '-v']);
    writer.start();
    const progressed = async (what: string) => {
      const target = writer.acks.at(-1)?.id ?? 0;
      await waitUntil(() => received().has(target), { timeoutMs: 90_000, intervalMs: 200, what: `the consumer to receive number ${target} (${what})` }).catch((err: Error) =>
        assert.fail(`${err.message}\n--- pg_recvlogical\n${consumer.output().slice(-3000)}\n${logs()}`),
      );
    };
    await waitUntil(() => writer.acks.length > 20, { timeoutMs: LIVENESS_MS, what: 'the writer to commit rows' });
    await progressed('before the first switchover');

    for (let i = 1; i <= SWITCHOVERS; i++) {
      const leader = (await cluster.primaries())[0]!;
      // Round the members in order, so each is promoted at least once.
      const candidate = cluster.nodes[(cluster.nodes.findIndex((n) => n.name === leader) + 1) % cluster.nodes.length]!.name;
      // The candidate must hold its copy of the slot and report streaming (the leader judges it by that).
      await waitUntil(() => hasSlot(candidate), { timeoutMs: 120_000, what: `slot cdc on ${candidate} before switchover ${i}` }).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
      await waitUntil(async () => (await memberStatus(cluster.node(candidate)))?.replication_state === 'streaming', { timeoutMs: LIVENESS_MS, what: `${candidate} streaming before switchover ${i}` });
      const res = await fetch(`http://127.0.0.1:${cluster.node(leader).apiPort}/switchover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ leader, candidate }),
        signal: AbortSignal.timeout(90_000),
      });
      const text = await res.text();
      assert.equal(res.status, 200, `switchover ${i} ${leader} → ${candidate}: ${text}\n${logs()}`);
      const now = await cluster.waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
      assert.equal(now, candidate, `switchover ${i}`);
      // Rows committed on the new primary reach the consumer through the slot copy there.
      await waitUntil(() => writer.acks.some((a) => a.member === candidate), { timeoutMs: LIVENESS_MS, what: `a row committed on ${candidate}` });
      await progressed(`after switchover ${i} to ${candidate}`);
    }

    await writer.stop();
    await progressed('after the writer stopped');
    const got = received();
    const missing = writer.acks.filter((a) => !got.has(a.id)).map((a) => a.id);
    assert.deepEqual(missing, [], `acknowledged numbers the consumer never received (${missing.length} of ${writer.acks.length})\n--- pg_recvlogical\n${consumer.output().slice(-3000)}`);
    assert.equal(consumer.hasExited, false, `pg_recvlogical exited: ${consumer.output().slice(-2000)}`);
    assert.ok(new Set(writer.acks.map((a) => a.member)).size === 3, 'rows were committed on every member in turn');
  });

  it('keeps the slot of a member whose key expired (member_slots_ttl) on the leader and the other replica, and the member streams through it again', async () => {
    expectedLeader = await cluster.waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    const leader = await stillLeader();
    const [gone, other] = cluster.nodes.map((n) => n.name).filter((n) => n !== leader) as [string, string];
    const slot = gone.replace(/-/g, '_');
    await cluster.killHard(gone);
    // The member key lives ttl (6 s here) after its last touch; the leader's /cluster stops listing it.
    await waitUntil(
      async () => {
        const res = await fetch(`http://127.0.0.1:${cluster.node(leader).apiPort}/cluster`, { signal: AbortSignal.timeout(2000) });
        const body = (await res.json()) as { members: { name: string }[] };
        return !body.members.some((m) => m.name === gone);
      },
      { timeoutMs: LIVENESS_MS, what: `${gone}'s member key to expire` },
    );
    await cluster.waitForCycles(leader, 3, new RegExp(`INFO: no action\\. I am \\(${leader}\\), the leader with the lock`));
    for (const name of [leader, other]) {
      const rows = await sql(cluster.node(name), 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      assert.equal(rows.length, 1, `slot ${slot} of the departed ${gone} on ${name}\n${logs()}`);
    }
    cluster.startAgent(gone);
    await cluster.waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    await waitUntil(async () => (await sql<{ active: boolean }>(cluster.node(leader), 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]))[0]?.active === true, {
      timeoutMs: LIVENESS_MS,
      what: `${gone} streaming through its slot ${slot} on ${leader}`,
    });
  });
});
