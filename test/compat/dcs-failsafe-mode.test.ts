// Patroni's features/dcs_failsafe_mode.feature (patroni/patroni de6b22c8), ported onto three hactl
// members on a three-member etcd (the feature's "DCS is down" is every etcd member killed; with the
// embedded Raft store see test/e2e/failsafe.test.ts). Scenarios in the feature's order, on one
// cluster; postgres-0/1/2 are node1/node2/node3. What is not ported is listed in README.md.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findBinaries, parseLsn, run } from '../../src/postgres/index.js';
import { BOOTSTRAPPED_WITHIN_MS, HEALTHY_WITHIN_MS, inRecovery, memberStatus, sql, TestCluster } from '../helpers/cluster.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { acceptsWrites, enableFailsafe, rest, writesOutliveTheLease } from '../helpers/failsafe.js';
import { editMemberConfig } from '../helpers/member-config.js';
import { pgUser, tempDirForPostgres } from '../helpers/postgres.js';
import { LIVENESS_MS, SUITE_MS, waitUntil, WaitTimeout, type WaitOptions } from '../helpers/wait.js';
import { confirmedFlushLsn, getAllChanges, logicalSlotInSync, replicationWorks, shutDown } from './steps.js';

/** The feature's PATCH (loop_wait 2, ttl 20, retry_timeout 3, failsafe_mode on). */
const FEATURE_CONFIG = { loop_wait: 2, ttl: 20, retry_timeout: 3, failsafe_mode: true };
const TTL_MS = FEATURE_CONFIG.ttl * 1000;
/** The feature's permanent logical slot. */
const SLOT = 'dcs_slot_0';

/** Patroni's features/backup_restore.py: the backup directory (--sourcedir) copied into --datadir. */
const BACKUP_RESTORE_SCRIPT = `#!/bin/sh
for arg; do
  case "$arg" in
    --datadir=*) datadir="\${arg#--datadir=}" ;;
    --sourcedir=*) sourcedir="\${arg#--sourcedir=}" ;;
  esac
done
[ -f "$sourcedir/PG_VERSION" ] || { echo "backup_restore: no backup in '$sourcedir'" >&2; exit 3; }
mkdir -p "$datadir" && cp -R "$sourcedir/." "$datadir/" && chmod 700 "$datadir"
`;

describe("Patroni's dcs_failsafe_mode feature on etcd", { timeout: SUITE_MS }, () => {
  let etcd: EtcdCluster;
  let cluster: TestCluster;
  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.history(n.name).split('\n').slice(-80).join('\n')}`).join('\n');
  const apiUrl = (name: string) => `http://127.0.0.1:${cluster.node(name).apiPort}/patroni`;
  /** waitUntil, and on timeout the agents' logs as they are then (not when the wait began). */
  async function waitLogged<T>(probe: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
    try {
      return await waitUntil(probe, opts);
    } catch (err) {
      if (err instanceof WaitTimeout) throw new WaitTimeout(`${err.message}\n${logs()}\n${await cluster.diagnose(undefined, 40)}`);
      throw err;
    }
  }
  const etcdDown = () => Promise.all([etcd.kill(0), etcd.kill(1), etcd.kill(2)]);
  const etcdUp = () => Promise.all([etcd.restart(0), etcd.restart(1), etcd.restart(2)]);

  /** `GET /primary` of `name` says failsafe_mode_is_active (the feature's "contains failsafe_mode_is_active"). */
  async function failsafeActiveOnPrimary(name: string): Promise<void> {
    await waitUntil(
      async () => {
        const got = await rest(cluster.node(name), '/primary').catch(() => null);
        return got?.status === 200 && (JSON.parse(got.text) as { failsafe_mode_is_active?: boolean }).failsafe_mode_is_active === true ? true : null;
      },
      { timeoutMs: LIVENESS_MS, what: `GET /primary on ${name} to contain failsafe_mode_is_active` },
    );
  }

  /** "logical slot dcs_slot_0 is in sync between A and B" (steps.ts), with the agents' logs on timeout. */
  async function slotInSync(a: string, b: string, timeoutMs: number): Promise<string> {
    try {
      return await logicalSlotInSync(cluster, SLOT, a, b, timeoutMs);
    } catch (err) {
      if (err instanceof WaitTimeout) throw new WaitTimeout(`${err.message}\n${logs()}`);
      throw err;
    }
  }

  let backupDir: string;

  before(async () => {
    etcd = await EtcdCluster.start({ members: 3 });
    // postgres-2 joins in the scale-out scenario with Patroni's `replicatefrom postgres-0` tag.
    cluster = await TestCluster.create({ size: 3, store: { etcd3: { hosts: etcd.endpoints } }, extraYaml: (name) => (name === 'node3' ? 'tags:\n  replicatefrom: node1\n' : '') });
    const scripts = await tempDirForPostgres('hactl-failsafe-backup-');
    backupDir = path.join(scripts, 'basebackup');
    const script = path.join(scripts, 'backup_restore.sh');
    await fs.writeFile(script, BACKUP_RESTORE_SCRIPT, { mode: 0o755 });
    for (const node of cluster.nodes) {
      // Patroni's harness keeps 100 WAL segments (wal_keep_segments: 100): the member restored from a
      // backup streams from where the backup ended, after its source's shutdown checkpoint.
      await editMemberConfig(node.configPath, { 'postgresql.parameters.wal_keep_size': '1600MB' });
    }
    // Patroni's bootstrap_from_backup_no_leader: postgres-1's only replica method runs without a leader,
    // with the harness's options as written there (no_leader is the string '1', which Python reads as true).
    await editMemberConfig(cluster.node('node2').configPath, {
      'postgresql.create_replica_methods': ['no_leader_bootstrap'],
      'postgresql.no_leader_bootstrap': { command: `/bin/sh ${script} --sourcedir=${backupDir}`, 'test-argument': 'test-value', no_leader: '1' },
    });
  });
  after(async () => {
    await cluster?.destroy();
    await etcd?.stop();
  });

  it('check failsafe mode can be successfully enabled', async () => {
    cluster.startAgent('node1');
    assert.equal(await cluster.waitForHealthy(['node1'], BOOTSTRAPPED_WITHIN_MS), 'node1');
    await enableFailsafe(cluster, 'node1', FEATURE_CONFIG, ['node1']);
    const got = await rest(cluster.node('node1'), '/failsafe');
    assert.deepEqual([got.status, JSON.parse(got.text)], [200, { node1: apiUrl('node1') }]);
    // The feature's two PATCHes. wal_level needs a restart (pending_restart, in hactl as in Patroni), and
    // the feature restarts nobody for it: node1 is shut down and started again two scenarios later, and
    // runs with wal_level logical from then on. Until then the leader cannot create dcs_slot_0 and says
    // so every cycle; it creates it after that start.
    for (const body of [{ postgresql: { parameters: { wal_level: 'logical' } } }, { slots: { [SLOT]: { type: 'logical', database: 'postgres', plugin: 'test_decoding' } } }]) {
      const patched = await rest(cluster.node('node1'), '/config', { method: 'PATCH', body });
      assert.equal(patched.status, 200, patched.text);
    }
  });

  it('check one-node cluster is functioning while DCS is down', async () => {
    await etcdDown();
    const t0 = Date.now();
    await failsafeActiveOnPrimary('node1');
    // hactl adds: well past ttl, so no lease can be what keeps it writable.
    await writesOutliveTheLease(cluster, 'node1', t0, TTL_MS, logs);
  });

  it("check new replica isn't promoted when leader is down and DCS is up", async () => {
    await etcdUp();
    // "I do a backup of postgres-0". Patroni's harness takes it without WAL and restores the WAL from
    // its archive; this backup carries its WAL, so the new member becomes consistent without either.
    const leader = cluster.node('node1');
    await run((await findBinaries({ user: await pgUser() })).path('pg_basebackup'), ['-h', leader.host, '-p', String(leader.pgPort), '-U', 'postgres', '-D', backupDir, '-X', 'stream', '-c', 'fast'], {
      user: await pgUser(),
      timeoutMs: 120_000,
    });
    await shutDown(cluster, 'node1');
    cluster.startAgent('node2');
    await waitLogged(async () => ((await inRecovery(cluster.node('node2'))) === true ? true : null), { timeoutMs: LIVENESS_MS, what: 'node2 role is the replica' });
    await cluster.waitForLog('node2', /replica created .*with no_leader_bootstrap/);
    // hactl adds: it stays a replica cycle after cycle, and says why (node2 is missing from the failsafe
    // key, which names node1 only: the primary never asked node2 for a promise).
    const excluded = /failsafe: not racing for the leader key, node2 is not in the failsafe key/g;
    await waitLogged(() => (cluster.output('node2').match(excluded)?.length ?? 0) >= 3, { timeoutMs: LIVENESS_MS, what: 'three cycles of node2 declining the race' });
    assert.equal(await inRecovery(cluster.node('node2')), true, `node2 is still a replica\n${logs()}`);
    assert.deepEqual(await cluster.primaries(), [], `nobody was promoted\n${logs()}`);
  });

  it('check leader and replica are both in /failsafe key after leader is back', async () => {
    // "I start postgres-0, I start postgres-1": postgres-1 runs already (the scenario before).
    cluster.startAgent('node1');
    assert.equal(await cluster.waitForHealthy(['node1', 'node2'], BOOTSTRAPPED_WITHIN_MS), 'node1', logs());
    for (const name of ['node1', 'node2']) {
      await waitUntil(
        async () => {
          const got = await rest(cluster.node(name), '/failsafe').catch(() => null);
          return got?.status === 200 && JSON.stringify(JSON.parse(got.text)) === JSON.stringify({ node1: apiUrl('node1'), node2: apiUrl('node2') }) ? true : null;
        },
        { timeoutMs: LIVENESS_MS, what: `GET /failsafe on ${name} to list node1 and node2` },
      );
    }
  });

  it('check leader and replica are functioning while DCS is down', async () => {
    // @slot-advance: node1 made dcs_slot_0 after its start with wal_level logical, node2 copied it.
    const before = await slotInSync('node1', 'node2', BOOTSTRAPPED_WITHIN_MS);
    await etcdDown();
    const t0 = Date.now();
    await failsafeActiveOnPrimary('node1');
    await writesOutliveTheLease(cluster, 'node1', t0, TTL_MS, logs);
    assert.equal(await inRecovery(cluster.node('node2')), true, 'node2 role is the replica');
    // "replication works from postgres-0 to postgres-1"
    await sql(cluster.node('node1'), 'CREATE TABLE failsafe_replicated (id int)');
    await waitUntil(async () => (await sql<{ ok: boolean }>(cluster.node('node2'), "SELECT to_regclass('failsafe_replicated') IS NOT NULL AS ok"))[0]!.ok || null, {
      timeoutMs: LIVENESS_MS,
      what: 'table failsafe_replicated on node2',
    });
    // "I get all changes from logical slot dcs_slot_0 on postgres-0", then node2's copy follows, with the
    // store still down: the only source of node1's new position is its POST /failsafe.
    await getAllChanges(cluster, 'node1', SLOT);
    const consumed = await confirmedFlushLsn(cluster, 'node1', SLOT);
    assert.ok(consumed !== null && parseLsn(consumed) > parseLsn(before), `the consumer moved dcs_slot_0 on node1 (from ${before} to ${consumed})`);
    const after = await slotInSync('node1', 'node2', LIVENESS_MS);
    assert.equal(after, consumed, 'node2 reached what the consumer confirmed on node1, and nothing further');
    assert.ok(etcd.members.every((m) => m.process === null || m.process.hasExited), 'etcd stayed down meanwhile');
  });

  it('check primary is demoted when one replica is shut down and DCS is down', async () => {
    await cluster.killHard('node2');
    await waitUntil(async () => ((await acceptsWrites(cluster.node('node1'))) ? null : true), { timeoutMs: LIVENESS_MS, what: 'node1 to stop accepting writes' });
    assert.deepEqual(await cluster.primaries(), [], `nobody runs writable without the store\n${logs()}`);
    assert.match(cluster.output('node1'), /failsafe: not every member accepted POST \/failsafe: node2/, logs());
  });

  // Patroni's demote('offline') restarts PostgreSQL as a standby without upstream, and so does hactl
  // (a read-only standby of nobody while the store is away). The feature's 12 s is Patroni's timing on
  // an idle machine; the bound here is the suite's liveness bound, the fact is the same.
  it('check primary is demoted: postgres0 role is the replica after 12 seconds', async () => {
    await waitLogged(async () => ((await inRecovery(cluster.node('node1'))) === true ? true : null), { timeoutMs: LIVENESS_MS, what: 'node1 role is the replica' });
    assert.match(cluster.output('node1'), /starting PostgreSQL as a read-only standby while the DCS is not accessible/, logs());
  });

  it('check known replica is promoted when leader is down and DCS is up', async () => {
    await cluster.killHard('node1');
    await etcdUp();
    cluster.startAgent('node2');
    await waitLogged(async () => ((await inRecovery(cluster.node('node2'))) === false ? true : null), { timeoutMs: HEALTHY_WITHIN_MS, what: 'node2 role is the primary' });
  });

  it('scale to three-node cluster', async () => {
    cluster.startAgent('node1');
    cluster.startAgent('node3');
    for (const name of ['node3', 'node1']) {
      await waitLogged(async () => ((await memberStatus(cluster.node(name)))?.state === 'running' ? true : null), { timeoutMs: BOOTSTRAPPED_WITHIN_MS, what: `members/${name} state=running` });
    }
    await waitUntil(
      async () => {
        const got = await rest(cluster.node('node1'), '/failsafe').catch(() => null);
        return got?.status === 200 && Object.hasOwn(JSON.parse(got.text) as object, 'node3') ? true : null;
      },
      { timeoutMs: LIVENESS_MS, what: 'GET /failsafe on node1 to contain node3' },
    );
    await replicationWorks(cluster, 'node2', 'node1', BOOTSTRAPPED_WITHIN_MS);
    await replicationWorks(cluster, 'node2', 'node3', BOOTSTRAPPED_WITHIN_MS);
    // hactl adds: node3's WAL comes through node1 (replicatefrom), not from the leader: node3 follows the
    // leader while node1 is not running yet (it rewinds first) and re-points once it runs.
    await waitLogged(
      async () => {
        const rows = await sql<{ application_name: string }>(cluster.node('node1'), "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'");
        return rows.map((r) => r.application_name).join() === 'node3' ? true : null;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: 'node1 to stream to node3 (replicatefrom), and to nobody else' },
    );
  });

  it('check three-node cluster is functioning while DCS is down', async () => {
    await etcdDown();
    const t0 = Date.now();
    await failsafeActiveOnPrimary('node2');
    await writesOutliveTheLease(cluster, 'node2', t0, TTL_MS, logs);
    assert.equal(await inRecovery(cluster.node('node1')), true, 'node1 role is the replica');
    assert.equal(await inRecovery(cluster.node('node3')), true, 'node3 role is the replica');
    // The next scenario's "replication works from postgres-1 to postgres-0 / postgres-2", still without the DCS.
    await replicationWorks(cluster, 'node2', 'node1');
    await replicationWorks(cluster, 'node2', 'node3');
  });
});
