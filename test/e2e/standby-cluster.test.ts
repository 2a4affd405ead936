// Two clusters on loopback, the second a standby cluster of the first (issue 16): real agents and
// PostgreSQL 15. The standby cluster's first member copies the remote primary (never initdb), holds
// the leader key as standby leader and the other member cascades from it; writes on the first
// cluster reach every member of the second; kill -9 of the standby leader hands the role to the
// other member; promote-cluster makes the second cluster writable and demote-cluster turns the first
// into its standby (rewinding the old primary onto the new timeline). A watcher checks every 200 ms
// that no member of whichever cluster is the standby cluster ever runs out of recovery.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { BOOTSTRAPPED_WITHIN_MS, HEALTHY_WITHIN_MS, inRecovery, memberStatus, sql, TestCluster, type NodeSpec } from '../helpers/cluster.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { hactl } from './fault-fixture.js';

/** Puts a `standby_cluster` section into every member's bootstrap.dcs (the file the helper wrote). */
function makeStandbyConfigs(cluster: TestCluster, remote: NodeSpec): void {
  for (const node of cluster.nodes) {
    const text = readFileSync(node.configPath, 'utf8');
    const patched = text.replace(/^ {2}dcs:\n/m, `  dcs:\n    standby_cluster:\n      host: ${remote.host}\n      port: ${remote.pgPort}\n`);
    assert.notEqual(patched, text, `no bootstrap.dcs section in ${node.configPath}`);
    writeFileSync(node.configPath, patched, { mode: 0o600 });
  }
}

describe('standby cluster: a second cluster replicating from the first', { timeout: 600_000 }, () => {
  let primary: TestCluster;
  let standby: TestCluster;
  /** The cluster that must have no writable member right now (null: no check, during promote/demote). */
  let watched: TestCluster | null = null;
  const writable: string[] = [];
  let watching = true;
  let watcher: Promise<void> = Promise.resolve();

  const logs = (c: TestCluster) => c.nodes.map((n) => `--- ${c.scope}/${n.name}\n${c.history(n.name).split('\n').slice(-40).join('\n')}`).join('\n');
  const count = async (node: NodeSpec) => Number((await sql<{ n: string }>(node, 'SELECT count(*) AS n FROM marker'))[0]!.n);

  async function waitForRows(c: TestCluster, names: string[], expected: number): Promise<void> {
    for (const name of names) {
      await waitUntil(async () => (await count(c.node(name)).catch(() => -1)) >= expected, { timeoutMs: LIVENESS_MS, what: `${expected} rows on ${c.scope}/${name}` }).catch(
        (err: Error) => assert.fail(`${err.message}\n${logs(c)}`),
      );
    }
  }

  /** Runs `text` on the first cluster's primary of the moment (a loaded machine may fail it over). */
  async function writeOnPrimary(text: string): Promise<void> {
    const name = await waitUntil(async () => (await primary.primaries()).at(0), { timeoutMs: LIVENESS_MS, what: 'a primary in the first cluster' });
    await sql(primary.node(name), text);
  }

  /** The member whose GET /patroni says `role`, among `c`'s. */
  async function withRole(c: TestCluster, role: string): Promise<string | null> {
    for (const n of c.nodes) {
      const s = await memberStatus(n);
      if (s?.role === role && s.state === 'running') return n.name;
    }
    return null;
  }

  before(async () => {
    primary = await TestCluster.create({ size: 2 });
    // Three members: the kill -9 below must leave a Raft quorum.
    standby = await TestCluster.create({ size: 3 });
    watcher = (async () => {
      while (watching) {
        const c = watched;
        if (c) {
          for (const n of c.nodes) {
            if ((await inRecovery(n)) === false && c === watched) writable.push(`${c.scope}/${n.name} at ${new Date().toISOString()}`);
          }
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
  });

  after(async () => {
    watching = false;
    await watcher;
    await standby?.destroy();
    await primary?.destroy();
  });

  it('bootstraps the standby cluster from the remote primary: a standby leader, a cascading replica, nothing writable', async () => {
    primary.startAll();
    const leaderA = await primary.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs(primary)}`));
    await sql(primary.node(leaderA), 'CREATE TABLE marker (id int PRIMARY KEY)');
    await sql(primary.node(leaderA), 'INSERT INTO marker VALUES (1)');

    makeStandbyConfigs(standby, primary.node(leaderA));
    watched = standby;
    standby.startAll();
    const standbyLeader = await waitUntil(() => withRole(standby, 'standby_leader'), { timeoutMs: BOOTSTRAPPED_WITHIN_MS, what: 'a standby leader in the standby cluster' }).catch(
      (err: Error) => assert.fail(`${err.message}\n${logs(standby)}`),
    );
    // The member that bootstrapped need not be the standby leader now (a slow machine can cost it the key).
    const bootLogs = standby.nodes.map((n) => standby.output(n.name)).join('\n');
    assert.match(bootLogs, /trying to bootstrap a new standby leader/);
    assert.doesNotMatch(bootLogs, /trying to bootstrap a new cluster/, 'a member of the standby cluster ran initdb');
    // Same system as the remote: a copy, not a cluster of its own.
    const sysid = async (n: NodeSpec) => (await sql<{ s: string }>(n, 'SELECT system_identifier::text AS s FROM pg_control_system()'))[0]!.s;
    assert.equal(await sysid(standby.node(standbyLeader)), await sysid(primary.node(leaderA)));

    await writeOnPrimary('INSERT INTO marker SELECT generate_series(2, 100)');
    await waitForRows(standby, standby.nodes.map((n) => n.name), 100);
    // The other members stream from the standby leader (cascade), not from the remote.
    const others = standby.nodes.filter((n) => n.name !== standbyLeader).map((n) => n.name);
    const other = others[0]!;
    await waitUntil(
      async () => {
        const rows = await sql<{ a: string }>(standby.node(standbyLeader), "SELECT application_name AS a FROM pg_stat_replication WHERE state = 'streaming'");
        return others.every((o) => rows.some((r) => r.a === o));
      },
      { timeoutMs: LIVENESS_MS, what: `${others.join(', ')} streaming from the standby leader ${standbyLeader}` },
    ).catch((err: Error) => assert.fail(`${err.message}\n${logs(standby)}`));
    await standby.waitForLog(standbyLeader, new RegExp(`no action\\. I am \\(${standbyLeader}\\), the standby leader with the lock`));
    await standby.waitForLog(other, new RegExp(`following a standby leader \\(${standbyLeader}\\)`));

    // REST health answers match: the standby leader is no primary.
    const res = async (n: NodeSpec, path: string) => (await fetch(`http://${n.host}:${n.apiPort}${path}`)).status;
    assert.equal(await res(standby.node(standbyLeader), '/standby-leader'), 200);
    assert.equal(await res(standby.node(standbyLeader), '/primary'), 503);
    assert.equal(await res(standby.node(other), '/standby-leader'), 503);
    const cfg = standby.nodes[0]!.configPath;
    const list = await hactl(['list', '-c', cfg]);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${standbyLeader}\\s.*Standby Leader`));
    for (const n of standby.nodes) await assert.rejects(sql(n, 'INSERT INTO marker VALUES (1000)'), /read-only transaction/);
    assert.deepEqual(writable, []);
  });

  it('kill -9 of the standby leader: the other member takes the role and keeps replicating; nothing becomes writable', async () => {
    const old = (await withRole(standby, 'standby_leader'))!;
    const survivors = standby.nodes.filter((n) => n.name !== old).map((n) => n.name);
    await standby.killHard(old);
    const other = await waitUntil(() => withRole(standby, 'standby_leader').then((n) => (n !== null && n !== old ? n : null)), {
      timeoutMs: HEALTHY_WITHIN_MS,
      what: `another member than ${old} to become standby leader`,
    }).catch((err: Error) => assert.fail(`${err.message}\n${logs(standby)}`));
    await writeOnPrimary('INSERT INTO marker SELECT generate_series(101, 200)');
    await waitForRows(standby, survivors, 200);
    // The killed member comes back as a replica of the new standby leader.
    standby.startAgent(old);
    await waitForRows(standby, [old], 200);
    await standby.waitForLog(old, new RegExp(`following a standby leader \\(${other}\\)`), LIVENESS_MS);
    assert.deepEqual(writable, []);
  });

  it('promote-cluster makes the standby cluster writable; demote-cluster turns the first cluster into its standby', async () => {
    const cfgB = standby.nodes[0]!.configPath;
    watched = null;
    const promoted = await hactl(['promote-cluster', '-c', cfgB, '--force'], 240_000);
    assert.equal(promoted.status, 0, `${promoted.stdout}\n${promoted.stderr}\n${logs(standby)}`);
    assert.match(promoted.stdout, /cluster is successfully promoted/);
    const leaderB = await standby.waitForHealthy(undefined, HEALTHY_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs(standby)}`));
    await sql(standby.node(leaderB), 'INSERT INTO marker SELECT generate_series(201, 300)');

    const cfgA = primary.nodes[0]!.configPath;
    const b = standby.node(leaderB);
    const demoted = await hactl(['demote-cluster', '-c', cfgA, '--host', b.host, '--port', String(b.pgPort), '--force'], 240_000);
    assert.equal(demoted.status, 0, `${demoted.stdout}\n${demoted.stderr}\n${logs(primary)}`);
    assert.match(demoted.stdout, /cluster is successfully demoted/);
    watched = primary;
    await sql(standby.node(leaderB), 'INSERT INTO marker SELECT generate_series(301, 400)');
    // The old primary rewinds onto the new timeline and every member of the first cluster gets the second's writes.
    await waitForRows(primary, primary.nodes.map((n) => n.name), 400);
    await waitUntil(() => withRole(primary, 'standby_leader'), { timeoutMs: LIVENESS_MS, what: 'a standby leader in the first cluster' }).catch((err: Error) =>
      assert.fail(`${err.message}\n${logs(primary)}`),
    );
    for (const n of primary.nodes) await assert.rejects(sql(n, 'INSERT INTO marker VALUES (1000)'), /read-only transaction/);
    assert.deepEqual(writable, []);
  });
});
