// Synchronous mode end to end (issue 7): three real agents with `synchronous_mode: true` and
// synchronous_commit on. A writer records every acknowledged commit id while the primary is
// killed (-9, agent and postmaster), isolated from the network (when the members live in network
// namespaces, i.e. as root) and switched over, several times in a row; after each, every id
// acknowledged so far must be on the new primary. Then: the synchronous standby is replaced when
// it stops, strict mode blocks writes without a replica (keeping the standby the sync key lists in the
// setting, as Patroni 4 does) and resumes them when one returns, and a member tagged nosync gives its
// place up. Needs `npm run build` first.
//
// The writer's statement_timeout is long on purpose: PostgreSQL turns a commit whose wait for the
// standby is CANCELLED into a success with a WARNING ("committed locally, but might not have been
// replicated") — an acknowledgement no synchronous mode can protect. A terminated connection
// (demotion, shutdown) is an error, as it should be.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { BOOTSTRAPPED_WITHIN_MS, inRecovery, type NodeSpec, postmasterPid, sql } from '../helpers/cluster.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../helpers/wait.js';
import { Writer, type Ack } from '../helpers/writer.js';
import { agentLogs, apiFlags, createFaultCluster, destroyFaultCluster, hactl, netSupport, type FaultEnv } from './fault-fixture.js';

const PLACEHOLDER = '__patroni_strict_sync_replica_placeholder__';

describe('synchronous mode: no acknowledged commit is lost', { timeout: SUITE_MS }, () => {
  const env: Partial<FaultEnv> = {};
  let leader = '';
  let writer: Writer | undefined;
  let strictBlockedMs = 0;
  const report: { event: string; from: string; to: string; acked: number; missing: number; ms: number }[] = [];

  const cluster = () => env.cluster!;
  const names = () => cluster().nodes.map((n) => n.name);
  const others = (name: string) => names().filter((n) => n !== name);
  const url = (node: NodeSpec, path: string) => `http://${node.host}:${node.apiPort}${path}`;
  const logs = () => agentLogs(cluster(), 30);

  async function clusterRoles(via: string): Promise<Record<string, string>> {
    const body = (await (await fetch(url(cluster().node(via), '/cluster'), { signal: AbortSignal.timeout(2000) })).json()) as { members: { name: string; role: string }[] };
    return Object.fromEntries(body.members.map((m) => [m.name, m.role]));
  }

  /** The synchronous standby per the leader's /cluster (the `sync` key), once there is one and it is not `except`. */
  async function waitForSyncStandby(options: { except?: string; timeoutMs?: number } = {}): Promise<string> {
    return waitUntil(
      async () => {
        const roles = await clusterRoles(leader).catch(() => ({}) as Record<string, string>);
        const sync = Object.entries(roles).find(([, role]) => role === 'sync_standby')?.[0];
        return sync && sync !== options.except ? sync : null;
      },
      { timeoutMs: options.timeoutMs ?? LIVENESS_MS, intervalMs: 200, what: `a synchronous standby${options.except ? ` other than ${options.except}` : ''}` },
    ).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
  }

  async function patchConfig(patch: Record<string, unknown>): Promise<void> {
    const res = await fetch(url(cluster().node(leader), '/config'), { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
    assert.equal(res.status, 200, await res.text());
  }

  async function ssn(name: string): Promise<string> {
    return (await sql<{ s: string }>(cluster().node(name), "SELECT current_setting('synchronous_standby_names') AS s"))[0]!.s;
  }

  /** Every id acknowledged up to now is on `primary` (read after the snapshot, so a loss shows). */
  async function checkNoLoss(event: string, from: string, to: string, startedMs: number): Promise<void> {
    const acks: Ack[] = [...writer!.acks];
    const rows = await writer!.finalRows(cluster().nodes.map((n) => ({ name: n.name, host: n.host, port: n.pgPort })).find((t) => t.name === to));
    const present = new Set(rows.map((r) => `${r.member}/${r.id}`));
    const missing = acks.filter((a) => !present.has(`${a.member}/${a.id}`));
    report.push({ event, from, to, acked: acks.length, missing: missing.length, ms: Date.now() - startedMs });
    assert.equal(missing.length, 0, `${event} ${from} -> ${to}: ${missing.length} acknowledged commits missing, e.g. ${JSON.stringify(missing.slice(0, 5))}\n${logs()}`);
  }

  before(async () => {
    Object.assign(env, await createFaultCluster({}));
    // Synchronous mode from the start, and commits that wait for the standby (the fixture turns that off for speed).
    for (const node of cluster().nodes) {
      const text = await fs.readFile(node.configPath, 'utf8');
      const patched = text.replace(/synchronous_commit: 'off'/, "synchronous_commit: 'on'").replace(/(\n {4}maximum_lag_on_failover: \d+\n)/, '$1    synchronous_mode: true\n');
      assert.ok(patched.includes('synchronous_mode: true') && patched.includes("synchronous_commit: 'on'"), 'config template changed');
      await fs.writeFile(node.configPath, patched);
    }
  });

  after(async () => {
    await writer?.stop().catch(() => {});
    if (report.length > 0) process.stderr.write(`sync e2e: ${JSON.stringify({ report, strictBlockedMs })}\n`);
    await destroyFaultCluster(env);
  });

  it('bootstraps; the leader names a synchronous standby in the setting and in the sync key; REST and list show it', async () => {
    cluster().startAll();
    leader = await cluster().waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    const syncName = await waitForSyncStandby();
    const asyncName = others(leader).find((n) => n !== syncName)!;
    assert.equal(await ssn(leader), `FIRST 1 ("${syncName}")`);
    assert.match(cluster().output(leader), new RegExp(`Synchronous standby status assigned to \\['${syncName}'\\]`));

    const code = async (name: string, path: string) => (await fetch(url(cluster().node(name), path), { signal: AbortSignal.timeout(2000) })).status;
    await waitUntil(async () => (await code(syncName, '/sync')) === 200, { timeoutMs: LIVENESS_MS, what: `/sync 200 on ${syncName}` });
    assert.deepEqual(
      {
        sync: [await code(syncName, '/sync'), await code(syncName, '/synchronous'), await code(asyncName, '/sync'), await code(leader, '/sync')],
        async: [await code(asyncName, '/async'), await code(asyncName, '/asynchronous'), await code(syncName, '/async')],
        readOnlySync: [await code(leader, '/read-only-sync'), await code(syncName, '/read-only-sync'), await code(asyncName, '/read-only-sync')],
        quorum: [await code(syncName, '/quorum')],
      },
      { sync: [200, 200, 503, 503], async: [200, 200, 503], readOnlySync: [200, 200, 503], quorum: [503] },
    );
    const list = await hactl(['list', ...apiFlags(cluster().nodes)]);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${syncName}.*Sync Standby`));
  });

  it('loses no acknowledged commit over repeated kill -9, isolation and switchover of the primary', async () => {
    const targets = cluster().nodes.map((n) => ({ name: n.name, host: n.host, port: n.pgPort }));
    writer = new Writer({ mode: 'multi-host', targets, intervalMs: 20, connectTimeoutMs: 1000, statementTimeoutMs: 120_000 });
    await writer.ensureTable();
    writer.start();
    const events = env.network ? ['kill', 'switchover', 'isolate', 'kill', 'switchover', 'isolate', 'kill'] : ['kill', 'switchover', 'kill', 'switchover', 'kill'];
    for (const event of events) {
      await cluster().waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
      const syncName = await waitForSyncStandby();
      const before = writer.acks.length;
      await waitUntil(() => writer!.acks.length >= before + 20, { timeoutMs: LIVENESS_MS, what: 'writes before the event' });
      const old = leader;
      const t0 = Date.now();
      if (event === 'kill') {
        await cluster().killHard(old);
      } else if (event === 'isolate') {
        await env.network!.isolate(cluster().node(old).host);
      } else {
        const res = await fetch(url(cluster().node(old), '/switchover'), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ leader: old, candidate: syncName }),
          signal: AbortSignal.timeout(60_000),
        });
        assert.equal(res.status, 200, `${await res.text()}\n${logs()}`);
      }
      leader = await cluster().waitForHealthy(others(old).concat(event === 'switchover' ? [old] : []), 60_000).catch((err: Error) => assert.fail(`${event}: ${err.message}\n${logs()}`));
      assert.equal(leader, syncName, `${event}: the new primary must be the synchronous standby`);
      await waitUntil(() => writer!.acks.some((a) => a.member === leader), { timeoutMs: LIVENESS_MS, what: `acks on ${leader}` });
      await checkNoLoss(event, old, leader, t0);
      if (event === 'kill') cluster().startAgent(old);
      if (event === 'isolate') await env.network!.heal();
    }
    await cluster().waitForHealthy();
    await writer.stop();
    await checkNoLoss('end', leader, leader, Date.now());
    assert.ok(report.filter((r) => r.event !== 'end').length >= 5, 'at least five events ran');
  });

  // The rounds above include isolations only where the members live in network namespaces (root):
  // without them that part of the scenario did not run, and the report says so instead of passing it.
  it('loses no acknowledged commit when the primary is isolated from the network (part of the rounds above)', { skip: netSupport.ok ? false : netSupport.reason }, () => {
    const isolations = report.filter((r) => r.event === 'isolate');
    assert.ok(isolations.length >= 2, `isolation rounds ran: ${JSON.stringify(report)}`);
    assert.deepEqual(isolations.filter((r) => r.missing > 0), []);
  });

  it('replaces the synchronous standby when it stops, and takes it back when it returns', async () => {
    const stopped = await waitForSyncStandby();
    const other = others(leader).find((n) => n !== stopped)!;
    await cluster().killHard(stopped);
    const replacement = await waitForSyncStandby({ except: stopped });
    assert.equal(replacement, other);
    await waitUntil(async () => (await ssn(leader)) === `FIRST 1 ("${other}")`, { timeoutMs: LIVENESS_MS, what: 'the setting names the replacement' });
    await sql(cluster().node(leader), 'CREATE TABLE IF NOT EXISTS after_replace (id int)');
    cluster().startAgent(stopped);
    await cluster().waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    // The returning member is a candidate again (async until needed): the synchronous one stays,
    // however many cycles the leader runs.
    await cluster().waitForCycles(leader, 3);
    assert.equal((await clusterRoles(leader))[other], 'sync_standby');
  });

  it('strict mode: without a replica writes wait, and go on when a replica returns', async () => {
    // The replicas' agents must keep running (they are two of the three Raft members): pause the
    // cluster so nobody restarts PostgreSQL, then stop the replicas' servers.
    await patchConfig({ synchronous_mode_strict: true, pause: true });
    const replicas = others(leader);
    await waitUntil(async () => replicas.every((r) => /PAUSE: /.test(cluster().output(r).split('\n').slice(-3).join('\n'))), { timeoutMs: LIVENESS_MS, what: 'the replicas paused' });
    for (const r of replicas) process.kill(postmasterPid(cluster().node(r))!, 'SIGINT');
    await waitUntil(async () => (await Promise.all(replicas.map((r) => inRecovery(cluster().node(r))))).every((x) => x === null), { timeoutMs: LIVENESS_MS, what: 'replicas stopped' });
    // Patroni 4: the standby the sync key lists stays in the setting (the placeholder when it lists none;
    // which one it is depends on the order the two replicas' walsenders went away).
    let seen = '';
    await waitUntil(
      async () => {
        const listed = Object.entries(await clusterRoles(leader)).filter(([, role]) => role === 'sync_standby').map(([name]) => name);
        const expected = listed.length > 0 ? `FIRST ${listed.length} (${listed.map((n) => `"${n}"`).join(', ')})` : `FIRST 1 ("${PLACEHOLDER}")`;
        const now = await ssn(leader);
        seen = `${now} with the sync key listing [${listed.join(', ')}]`;
        return now === expected;
      },
      { timeoutMs: LIVENESS_MS, what: 'the setting to wait for the standby the sync key lists, or the strict placeholder' },
    ).catch((err: Error) => assert.fail(`${err.message}; last seen ${seen}\n${logs()}`));
    // The setting may already be the kept one before the leader's first cycle without a standby: wait for that cycle's warning.
    await cluster()
      .waitForLog(leader, /synchronous_mode_strict is requested: writes wait until a synchronous standby connects/)
      .catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));

    const node = cluster().node(leader);
    const client = new pg.Client({ host: node.host, port: node.pgPort, user: 'postgres', database: 'postgres' });
    client.on('error', () => {});
    await client.connect();
    try {
      let resumed = false;
      let doneBeforeResume = false;
      const t0 = Date.now();
      const insert = client.query('CREATE TABLE strict_probe (id int)').then(() => (doneBeforeResume = !resumed));
      // Three of the leader's cycles without a synchronous standby: the commit must still wait.
      await cluster().waitForCycles(leader, 3);
      assert.equal(doneBeforeResume, false, 'a commit was acknowledged without any synchronous standby');
      // Resume: the agents start the replicas again; the commit completes once one confirms it.
      resumed = true;
      await patchConfig({ pause: false });
      await insert;
      strictBlockedMs = Date.now() - t0;
      assert.equal(doneBeforeResume, false, 'the commit was acknowledged before a synchronous standby came back');
    } finally {
      await client.end().catch(() => {});
    }
    await cluster().waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    await waitForSyncStandby();
  });

  it('respects nosync: the tagged member gives its place up and never becomes synchronous', async () => {
    const tagged = await waitForSyncStandby();
    const other = others(leader).find((n) => n !== tagged)!;
    const node = cluster().node(tagged);
    await fs.appendFile(node.configPath, 'tags:\n  nosync: true\n');
    cluster().agents.get(tagged)!.signal('SIGHUP');
    const next = await waitForSyncStandby({ except: tagged });
    assert.equal(next, other);
    await cluster().killHard(other);
    // Only the nosync member streams now: non-strict would go asynchronous, strict keeps waiting for the
    // standby the key lists (Patroni 4); the tagged member is never picked.
    await waitUntil(async () => (await sql(cluster().node(leader), 'SELECT 1 FROM pg_stat_replication WHERE application_name = $1', [other])).length === 0, {
      timeoutMs: LIVENESS_MS,
      what: `${other}'s walsender gone from the leader`,
    });
    await cluster().waitForCycles(leader, 3);
    // The setting waits for what the key lists: the killed standby, or the placeholder when a cycle
    // between its last report and its walsender's end had already taken it out of the key (a standby
    // not confirmed caught up is left out, as in Patroni; both keep every commit waiting; failed once
    // as "placeholder, expected node3"). The tagged member is in neither, whatever the order.
    const roles = await clusterRoles(leader);
    const listed = Object.entries(roles).filter(([, role]) => role === 'sync_standby').map(([name]) => name);
    const now = await ssn(leader);
    assert.equal(now, listed.length > 0 ? `FIRST 1 ("${other}")` : `FIRST 1 ("${PLACEHOLDER}")`, `sync key lists [${listed.join(', ')}]\n${logs()}`);
    assert.deepEqual(listed.filter((n) => n !== other), [], JSON.stringify(roles));
    assert.notEqual(roles[tagged], 'sync_standby');
    cluster().startAgent(other);
    await waitForSyncStandby();
  });
});
