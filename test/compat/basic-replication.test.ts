// Patroni's basic_replication feature (features/basic_replication.feature at master de6b22c8, with
// v3.0.2's scenarios where master dropped one), the scenarios example-configs.test.ts does not port:
// the sync key and synchronous_standby_names as the leader runs alone, strict mode, the restart of the
// synchronous replica, the stuck synchronous replica, multi-sync, the failover in synchronous mode,
// the rejoin of the former primary with pg_rewind, the refused duplicate name and strict mode keeping
// the old synchronous standby across a failover. Feature names map postgres-0/1/2 to node1/2/3.
//
// One cluster for the file, on one etcd member as Patroni's harness runs it: the first scenario starts
// postgres-0 alone, which an embedded three-member Raft store cannot serve (no quorum).
// Differences from Patroni, checked as hactl does them:
// - synchronous_standby_names: hactl always writes `FIRST n (...)`; Patroni writes a bare `"name"` (or
//   the bare placeholder) for one standby. PostgreSQL reads both the same (FIRST 1).
// - The fixture's ttl 6 / loop_wait 1 are kept (the feature patches ttl 20 only to run faster than its
//   default 30), so its "after N seconds" bounds are generous here.
// - The callback-log step of the failover scenario is test/e2e/callbacks.test.ts's (on_role_change).
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { BOOTSTRAPPED_WITHIN_MS, BIN, REPO_ROOT, sql, TestCluster } from '../helpers/cluster.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { freePort } from '../helpers/net.js';
import { apiUrl, dcsKey as stepsDcsKey, patchConfig as stepsPatchConfig, roleIs, shutDown, statusIs } from './steps.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';

const PLACEHOLDER = '__patroni_strict_sync_replica_placeholder__';
const STRICT_WARNING = 'No active replication connections from Patroni members and synchronous_mode_strict is requested';

describe("Patroni's basic_replication feature: synchronous mode, rejoin with pg_rewind, duplicate name", { timeout: 600_000 }, () => {
  let etcd: EtcdCluster | undefined;
  let cluster: TestCluster;
  const url = (name: string, p: string) => apiUrl(cluster, name, p);
  const tails = () => cluster.nodes.map((n) => `--- ${n.name}'s agent\n${cluster.output(n.name).split('\n').slice(-20).join('\n')}`).join('\n');
  const withTails = (err: Error): never => assert.fail(`${err.message}\n${tails()}`);
  const patchConfig = (via: string, patch: Record<string, unknown>) => stepsPatchConfig(cluster, via, patch).catch(withTails);
  const waitForCode = (name: string, p: string, code: number) => statusIs(cluster, name, p, code).catch(withTails);
  const waitForRole = (name: string, role: 'primary' | 'replica') => roleIs(cluster, name, role).catch(withTails);

  const dcsKey = (name: string) => stepsDcsKey(etcd!, cluster.scope, name);

  async function waitForSyncKey(field: 'leader' | 'sync_standby', expected: string, timeoutMs = LIVENESS_MS): Promise<void> {
    let seen: unknown = null;
    await waitUntil(
      async () => {
        seen = await dcsKey('sync');
        return (seen as Record<string, unknown> | null)?.[field] === expected;
      },
      { timeoutMs, intervalMs: 200, what: `the sync key to have ${field}=${expected}` },
    ).catch((err: Error) => withTails(new Error(`${err.message}; last seen ${JSON.stringify(seen)}`)));
  }

  async function ssn(name: string): Promise<string> {
    return (await sql<{ s: string }>(cluster.node(name), "SELECT current_setting('synchronous_standby_names') AS s"))[0]!.s;
  }

  async function waitForSsn(name: string, expected: string): Promise<void> {
    let seen = '';
    await waitUntil(async () => (seen = await ssn(name).catch((e: Error) => `(${e.message})`)) === expected, {
      timeoutMs: LIVENESS_MS,
      intervalMs: 200,
      what: `synchronous_standby_names on ${name} to be ${expected}`,
    }).catch((err: Error) => withTails(new Error(`${err.message}; last seen ${seen}`)));
  }

  async function tablePresent(table: string, name: string): Promise<void> {
    await waitUntil(async () => (await sql<{ ok: boolean }>(cluster.node(name), `SELECT to_regclass('public.${table}') IS NOT NULL AS ok`).catch(() => [{ ok: false }]))[0]!.ok, {
      timeoutMs: LIVENESS_MS,
      intervalMs: 200,
      what: `table ${table} on ${name}`,
    }).catch(withTails);
  }

  /** "members/X key in DCS has state=running". */
  async function waitForMemberRunning(name: string): Promise<void> {
    let seen: unknown = null;
    await waitUntil(async () => (seen = (await dcsKey(`members/${name}`))?.state) === 'running', { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `members/${name} state=running` }).catch(
      (err: Error) => withTails(new Error(`${err.message}; last seen ${JSON.stringify(seen)}`)),
    );
  }

  before(async () => {
    etcd = await EtcdCluster.start({ members: 1 });
    cluster = await TestCluster.create({
      size: 3,
      scope: 'batman',
      store: { etcd3: { hosts: etcd.endpoints } },
      extraYaml: (name) => (name === 'node3' ? 'tags:\n  replicatefrom: node1\n' : ''),
    });
    // Commits wait for the synchronous standby, and the dynamic synchronous_commit of the stuck-replica
    // scenario takes effect: the fixture's local `synchronous_commit: 'off'` (speed) would override it.
    for (const node of cluster.nodes) {
      const text = await fs.readFile(node.configPath, 'utf8');
      const patched = text.replace(/\n {4}synchronous_commit: 'off'\n/, '\n');
      assert.notEqual(patched, text, 'the fixture config changed: no local synchronous_commit to drop');
      await fs.writeFile(node.configPath, patched);
    }
  });

  after(async () => {
    await cluster?.destroy();
    await etcd?.stop();
  });

  it('replication of a single table: the sync key as the leader runs alone, strict mode, a replicatefrom member', async () => {
    cluster.startAgent('node1');
    assert.equal(await cluster.waitForHealthy(['node1'], BOOTSTRAPPED_WITHIN_MS).catch(withTails), 'node1');
    // Patroni's "there is a non empty initialize key in DCS": the bootstrap is done and the config key
    // written (before it, PATCH /config answers 503 "config is not set", in Patroni too).
    await waitForCode('node1', '/config', 200);
    await patchConfig('node1', { synchronous_mode: true });
    await waitForSyncKey('leader', 'node1');
    await waitForSsn('node1', '');
    await patchConfig('node1', { synchronous_mode_strict: true });
    await waitForSsn('node1', `FIRST 1 ("${PLACEHOLDER}")`);
    cluster.startAgent('node2');
    cluster.startAgent('node3');
    // Strict mode: the commit waits until a synchronous standby is there.
    await sql(cluster.node('node1'), 'CREATE TABLE public.foo()');
    await tablePresent('foo', 'node2');
    await tablePresent('foo', 'node3');
    assert.equal(await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch(withTails), 'node1');
  });

  it('restart of the synchronous replica: the other replica takes its place, and the key and the setting follow', async () => {
    await shutDown(cluster, 'node3');
    await waitForSyncKey('sync_standby', 'node2');
    await waitForSsn('node1', 'FIRST 1 ("node2")');
    cluster.startAgent('node3');
    await shutDown(cluster, 'node2');
    await waitForSyncKey('sync_standby', 'node3');
    await waitForSsn('node1', 'FIRST 1 ("node3")');
    cluster.startAgent('node2');
    await waitForMemberRunning('node2');
    await waitForCode('node3', '/sync', 200);
    await waitForCode('node2', '/async', 200);
  });

  it('stuck synchronous replica: past maximum_lag_on_syncnode (replay paused under remote_apply) the other replica becomes synchronous', async () => {
    await patchConfig('node1', { pause: true, maximum_lag_on_syncnode: 15000000, postgresql: { parameters: { synchronous_commit: 'remote_apply' } } });
    await waitUntil(async () => (await sql<{ s: string }>(cluster.node('node1'), "SELECT current_setting('synchronous_commit') AS s"))[0]!.s === 'remote_apply', {
      timeoutMs: LIVENESS_MS,
      intervalMs: 200,
      what: 'synchronous_commit remote_apply on node1',
    }).catch(withTails);
    await sql(cluster.node('node1'), 'CREATE TABLE IF NOT EXISTS public.mytest(id numeric)');
    await tablePresent('mytest', 'node2');
    await tablePresent('mytest', 'node3');
    await sql(cluster.node('node3'), 'SELECT pg_wal_replay_pause()');
    // The load's commit waits for node3 to apply it, which it does not: the leader must move the sync role.
    const load = sql(cluster.node('node1'), 'INSERT INTO public.mytest SELECT r::numeric FROM generate_series(1, 350000) r');
    load.catch(() => {}); // awaited below; a rejection must not go unhandled meanwhile
    try {
      await waitForSyncKey('sync_standby', 'node2', LIVENESS_MS);
      await sql(cluster.node('node3'), 'SELECT pg_wal_replay_resume()');
      await load;
      await waitForCode('node2', '/sync', 200);
      await waitForCode('node3', '/async', 200);
    } finally {
      // The next scenarios start from Patroni's state after this one, whatever happened here.
      await sql(cluster.node('node3'), 'SELECT pg_wal_replay_resume()');
      await patchConfig('node1', { pause: null, maximum_lag_on_syncnode: -1, postgresql: { parameters: { synchronous_commit: 'on' } } });
    }
    await sql(cluster.node('node1'), 'DROP TABLE IF EXISTS public.mytest');
  });

  it('multi sync: synchronous_node_count 2 names both replicas; back to 1, a stopped one is replaced', async () => {
    await patchConfig('node1', { synchronous_node_count: 2, synchronous_mode_strict: null });
    await waitForSyncKey('sync_standby', 'node2,node3');
    await waitForCode('node3', '/sync', 200);
    await waitForCode('node2', '/sync', 200);
    await patchConfig('node1', { synchronous_node_count: 1 });
    await shutDown(cluster, 'node2');
    await waitForSyncKey('sync_standby', 'node3');
    cluster.startAgent('node2');
    await waitForMemberRunning('node2');
    await waitForCode('node3', '/sync', 200);
    await waitForCode('node2', '/async', 200);
  });

  it('failover in synchronous mode: the leader shut down in pause, on resume the synchronous standby is promoted', async () => {
    await patchConfig('node1', { pause: true });
    // node1 itself must have taken the pause before its SIGTERM: an agent that has not seen it yet hands
    // over as usual and stops PostgreSQL (the next scenario needs node1's PostgreSQL still running).
    // Counted from now: node1's log already holds PAUSE lines from the stuck-replica scenario.
    await Promise.all(['node1', 'node2'].map((name) => cluster.waitForCycles(name, 1, /INFO: PAUSE: /))).catch(withTails);
    // In pause the agent leaves PostgreSQL running and the leader key in place (Patroni does the same).
    await shutDown(cluster, 'node1');
    await patchConfig('node2', { pause: null });
    await waitForRole('node3', 'primary');
    await waitUntil(
      async () => {
        const history = (await (await fetch(url('node3', '/history'), { signal: AbortSignal.timeout(2000) })).json()) as unknown[];
        return JSON.stringify(history).includes('recovery');
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: "node3's /history to contain recovery" },
    ).catch(withTails);
    await patchConfig('node3', { synchronous_mode: null, master_start_timeout: 0 });
    await sql(cluster.node('node3'), 'CREATE TABLE public.bar()');
    await tablePresent('bar', 'node2');
    await waitUntil(async () => 'master_start_timeout' in ((await (await fetch(url('node3', '/config'))).json()) as object), { timeoutMs: LIVENESS_MS, what: 'GET /config to contain master_start_timeout' });
  });

  it('rejoin of the former primary with pg_rewind: its split-brain write is rewound away', async () => {
    // node1's PostgreSQL still runs as a primary without its agent: a write there diverges. Its
    // synchronous_standby_names still names a standby that now follows node3, so the write commits
    // locally (synchronous_commit local), or it would wait for ever.
    await sql(cluster.node('node1'), 'SET synchronous_commit = local; CREATE TABLE public.splitbrain()');
    cluster.startAgent('node1');
    await waitForRole('node1', 'replica');
    await sql(cluster.node('node3'), 'CREATE TABLE public.buz()');
    await tablePresent('buz', 'node1');
    const [row] = await sql<{ ok: boolean }>(cluster.node('node1'), "SELECT to_regclass('public.splitbrain') IS NULL AS ok");
    assert.equal(row!.ok, true, 'the diverged write is gone from node1');
    assert.match(cluster.history('node1'), /pg_rewind/i);
  });

  it('a second agent with a running member\'s name is refused with Patroni\'s CRITICAL message', async () => {
    const original = await fs.readFile(cluster.node('node1').configPath, 'utf8');
    const port = await freePort();
    const dupConfig = `${cluster.node('node1').configPath}.dup.yml`;
    await fs.writeFile(dupConfig, original.replaceAll(`:${cluster.node('node1').apiPort}`, `:${port}`), { mode: 0o600 });
    const proc = cluster.registry.spawn('dup-node1', process.execPath, [BIN, 'agent', '-c', dupConfig], { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1' } });
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([proc.exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running'), LIVENESS_MS)))]);
    clearTimeout(timer);
    // A duplicate that did start must not go on driving node1's data directory.
    if (!proc.hasExited) proc.signal('SIGKILL');
    assert.equal(code, 1, proc.output());
    assert.match(proc.output(), /CRITICAL.*Can't start; there is already a node named 'node1' running/);
    assert.equal((await fetch(url('node1', '/liveness'))).status, 200, 'the running node1 is untouched');
  });

  // Patroni master's scenario (not in v3.0.2, whose promotion emptied the key): in strict mode the new
  // primary keeps the former key's members (here the stopped former leader, node3) in the sync key and
  // in synchronous_standby_names, so it acknowledges no commit before one of them has it.
  it('strict mode keeps the old synchronous standby in the setting when the new primary has no replica to name', async () => {
    const node1 = cluster.node('node1');
    await fs.writeFile(node1.configPath, `${await fs.readFile(node1.configPath, 'utf8')}tags:\n  nosync: true\n`);
    const reload = await fetch(url('node1', '/reload'), { method: 'POST', signal: AbortSignal.timeout(10_000) });
    assert.equal(reload.status, 202, await reload.text());
    await patchConfig('node3', { synchronous_mode: true, synchronous_mode_strict: true });
    await waitForSyncKey('sync_standby', 'node2');
    await waitForSsn('node3', 'FIRST 1 ("node2")');
    await shutDown(cluster, 'node3');
    await waitForRole('node2', 'primary');
    await cluster.waitForLog('node2', new RegExp(STRICT_WARNING)).catch(withTails);
    await waitForSyncKey('leader', 'node2');
    await waitForSyncKey('sync_standby', 'node3');
    await waitForSsn('node2', 'FIRST 1 ("node3")');
    // What the setting is for: a commit on the new primary waits for a standby that is not there
    // (wait_event SyncRep). Cancelled, the wait ends in PostgreSQL's WARNING (committed locally only).
    const node2 = cluster.node('node2');
    const client = new pg.Client({ host: node2.host, port: node2.pgPort, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
    const notices: string[] = [];
    client.on('notice', (n) => notices.push(n.message ?? ''));
    await client.connect();
    try {
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const commit = client.query('CREATE TABLE public.strict_probe()');
      commit.catch(() => {}); // awaited below; a rejection must not go unhandled meanwhile
      let seen: unknown = null;
      await waitUntil(
        async () => (seen = (await sql<{ w: string | null }>(node2, 'SELECT wait_event AS w FROM pg_stat_activity WHERE pid = $1', [pid]))[0]?.w ?? null) === 'SyncRep',
        { timeoutMs: LIVENESS_MS, intervalMs: 200, what: "node2's commit to wait for a synchronous standby (wait_event SyncRep)" },
      ).catch((err: Error) => withTails(new Error(`${err.message}; last seen wait_event ${JSON.stringify(seen)}`)));
      await sql(node2, 'SELECT pg_cancel_backend($1)', [pid]);
      await commit;
    } finally {
      await client.end();
    }
    assert.ok(notices.some((m) => m.startsWith('canceling wait for synchronous replication')), `no cancelled synchronous wait on node2; notices: ${JSON.stringify(notices)}`);
  });
});
