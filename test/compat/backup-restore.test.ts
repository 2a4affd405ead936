// Backup tools the way Patroni deployments wire them (issue 12 item 4; Patroni's features
// custom_bootstrap.feature "make a backup and do a restore into a new cluster" and nostream_node.feature
// "check nostream node is recovering from archive"), with a real archive and a real backup:
// - the cluster archives its WAL (archive_command cp) and a base backup is taken with pg_basebackup;
// - a member created by a pgBackRest-style replica method (a script that restores the newest backup of
//   its repository into --datadir) with recovery_conf.restore_command and the nostream tag: it
//   recovers from the archive only, never streams, and the leader keeps no slot for it;
// - a new cluster bootstrapped from that backup by `bootstrap.method` with a recovery_conf: it recovers
//   to the end of the archive, promotes, and holds the data of the cluster the backup came from.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findBinaries, run } from '../../src/postgres/index.js';
import { BOOTSTRAPPED_WITHIN_MS, memberStatus, sql, TestCluster } from '../helpers/cluster.js';
import { editMemberConfig } from '../helpers/member-config.js';
import { pgUser, tempDirForPostgres } from '../helpers/postgres.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';

/**
 * A pgBackRest-style restore command: options as --key=value in any order, the repository's newest
 * backup copied into --datadir (a real copy of a real backup), each call recorded for the test.
 */
const RESTORE_SCRIPT = `#!/bin/sh
for arg; do
  case "$arg" in
    --datadir=*) datadir="\${arg#--datadir=}" ;;
    --repo=*) repo="\${arg#--repo=}" ;;
  esac
done
[ -n "$repo" ] || { echo "restore: --repo is required" >&2; exit 2; }
echo "$*" >> "$repo/calls.log"
[ -n "$datadir" ] || { echo "restore: --datadir is required" >&2; exit 2; }
[ -f "$repo/backup/PG_VERSION" ] || { echo "restore: no backup in $repo" >&2; exit 3; }
mkdir -p "$datadir" && cp -R "$repo/backup/." "$datadir/" && chmod 700 "$datadir"
`;

describe("backup tools: a pgBackRest-style replica method with restore_command and nostream, and bootstrap.method from a backup (Patroni's custom_bootstrap, nostream_node)", { timeout: 900_000 }, () => {
  let cluster: TestCluster;
  let restored: TestCluster | null = null;
  let repo: string;
  let archive: string;
  let leader = '';

  const restoreCommand = () => `cp ${archive}/%f %p`;
  const archiver = () => `test ! -f ${archive}/%f && cp %p ${archive}/%f`;

  before(async () => {
    repo = await tempDirForPostgres('hactl-repo-');
    archive = path.join(repo, 'archive');
    await fs.mkdir(archive);
    const user = await pgUser();
    await fs.chown(archive, user.uid, user.gid);
    const script = path.join(repo, 'restore.sh');
    await fs.writeFile(script, RESTORE_SCRIPT, { mode: 0o755 });

    cluster = await TestCluster.create({ size: 3, extraYaml: (name) => (name === 'node3' ? 'tags:\n  nostream: true\n' : '') });
    for (const node of cluster.nodes) {
      await editMemberConfig(node.configPath, {
        'postgresql.parameters.archive_mode': 'on',
        'postgresql.parameters.archive_command': archiver(),
      });
    }
    await editMemberConfig(cluster.node('node3').configPath, {
      'postgresql.create_replica_methods': ['pgbackrest', 'basebackup'],
      'postgresql.pgbackrest': { command: `/bin/sh ${script}`, keep_data: false, no_leader: true, repo },
      'postgresql.recovery_conf': { restore_command: restoreCommand(), recovery_target_time: 'never used on a replica' },
    });
    cluster.startAgent('node1');
    cluster.startAgent('node2');
  });

  after(async () => {
    await restored?.destroy();
    await cluster?.destroy();
  });

  it('takes a base backup of the running cluster into the repository, WAL in the archive', async () => {
    leader = await cluster.waitForHealthy(['node1', 'node2'], BOOTSTRAPPED_WITHIN_MS);
    await sql(cluster.node(leader), 'CREATE TABLE before_backup AS SELECT 1 AS x');
    const binaries = await findBinaries({ user: await pgUser() });
    const node = cluster.node(leader);
    await run(binaries.path('pg_basebackup'), ['-h', node.host, '-p', String(node.pgPort), '-U', 'postgres', '-D', path.join(repo, 'backup'), '-X', 'none', '-c', 'fast'], {
      user: await pgUser(),
      timeoutMs: 120_000,
    });
    await sql(cluster.node(leader), 'CREATE TABLE after_backup AS SELECT 2 AS x');
    await sql(cluster.node(leader), 'SELECT pg_switch_wal()');
    const files = await fs.readdir(archive);
    assert.ok(files.some((f) => f.endsWith('.backup')), `the backup's history file is archived: ${files.join(' ')}`);
  });

  it('creates a nostream replica with the custom method (Patroni\'s arguments), which recovers from the archive only', async () => {
    cluster.startAgent('node3');
    const node3 = cluster.node('node3');
    const status = await waitUntil(
      async () => {
        const s = await memberStatus(node3);
        return s?.state === 'running' && s.replication_state === 'in archive recovery' ? s : null;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: "node3's /patroni to say running, replication_state 'in archive recovery'" },
    );
    assert.equal(status.role, 'replica');
    const calls = (await fs.readFile(path.join(repo, 'calls.log'), 'utf8')).trim().split('\n');
    assert.equal(calls.length, 1, calls.join('\n'));
    // Patroni's order: the section's keys, then --scope, --role, --datadir, --connstring (bootstrap.py create_replica).
    assert.match(calls[0]!, new RegExp(`^--keep_data=False --no_leader=True --repo=${repo} --scope=${cluster.scope} --role=replica --datadir=${node3.dataDir} --connstring=\\S`));
    assert.match(cluster.output('node3'), /replica created from \S+ with pgbackrest in/);
    const conf = await fs.readFile(path.join(node3.dataDir, 'postgresql.conf'), 'utf8');
    assert.match(conf, /^restore_command = 'cp .*%f %p'$/m);
    assert.doesNotMatch(conf, /^(primary_conninfo|primary_slot_name|recovery_target_time) =/m, 'nostream: no streaming; a replica ignores recovery targets');

    // "replication works from postgres-0 to postgres-1": through the archive.
    await sql(cluster.node(leader), 'CREATE TABLE through_archive AS SELECT 3 AS x');
    await sql(cluster.node(leader), 'SELECT pg_switch_wal()');
    await waitUntil(async () => (await sql(node3, "SELECT to_regclass('through_archive') IS NOT NULL AS ok"))[0]!.ok, {
      timeoutMs: LIVENESS_MS,
      intervalMs: 250,
      what: 'the table written on the leader to reach node3 through the archive',
    });
    const senders = await sql<{ application_name: string }>(cluster.node(leader), 'SELECT application_name FROM pg_stat_replication');
    assert.ok(!senders.some((s) => s.application_name === 'node3'), `node3 does not stream: ${JSON.stringify(senders)}`);
    const slots = await sql<{ slot_name: string }>(cluster.node(leader), 'SELECT slot_name FROM pg_replication_slots');
    assert.ok(!slots.some((s) => s.slot_name === 'node3'), `no slot for a nostream member: ${JSON.stringify(slots)}`);
  });

  it('bootstraps a new cluster from the backup with bootstrap.method and its recovery_conf', async () => {
    restored = await TestCluster.create({ size: 1 });
    const node = restored.nodes[0]!;
    await editMemberConfig(node.configPath, {
      'bootstrap.method': 'restore_backup',
      'bootstrap.restore_backup': {
        command: `/bin/sh ${path.join(repo, 'restore.sh')}`,
        repo,
        recovery_conf: { restore_command: restoreCommand(), recovery_target_action: 'promote', recovery_target_timeline: 'latest' },
      },
    });
    restored.startAll();
    // The restored server is writable before bootstrap has finished (roles, the leader key): wait for the end.
    await restored.waitForLog('node1', /initialized a new cluster/, BOOTSTRAPPED_WITHIN_MS);
    await restored.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS);
    const rows = await sql<{ a: number; b: number; c: number }>(node, 'SELECT (SELECT x FROM before_backup) AS a, (SELECT x FROM after_backup) AS b, (SELECT x FROM through_archive) AS c');
    assert.deepEqual(rows[0], { a: 1, b: 2, c: 3 }, 'the backup plus every archived segment was replayed');
    const calls = (await fs.readFile(path.join(repo, 'calls.log'), 'utf8')).trim().split('\n');
    assert.equal(calls.at(-1), `--scope=${restored.scope} --datadir=${node.dataDir} --repo=${repo}`);
    const [mine] = await sql<{ id: string }>(node, 'SELECT system_identifier::text AS id FROM pg_control_system()');
    const [theirs] = await sql<{ id: string }>(cluster.node(leader), 'SELECT system_identifier::text AS id FROM pg_control_system()');
    assert.equal(mine!.id, theirs!.id, 'the restored cluster is a copy of the backed-up one');
    const conf = await fs.readFile(path.join(node.dataDir, 'postgresql.conf'), 'utf8');
    assert.doesNotMatch(conf, /^(restore_command|recovery_target_action) =/m, 'once promoted the recovery settings are gone');
  });
});
