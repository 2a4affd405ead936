// Patroni's example configurations (postgres0/1/2.yml, their Raft variant; patroni-examples.ts says the
// little the fixture changes) run as a three-member hactl cluster, and Patroni's acceptance features
// that apply are ported onto that one cluster (README.md lists which and why the others are not):
// - basic_replication "check replication of a single table";
// - patroni_api: the health endpoints' codes, PATCH /config, an authenticated switchover;
// - recovery "check that timeline is not incremented when primary is started after crash", "check
//   immediate failover when master_start_timeout=0" and "check failed primary recovery with
//   master_start_timeout<>0" (the member gives the key up and reports `on_role_change demoted`).
// The files' timing (ttl 30, loop_wait 10) is kept for the bootstrap; the patroni_api scenario then
// patches it down, as Patroni's features do, so the failure scenarios do not wait for 30 s leases.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { BIN, BOOTSTRAPPED_WITHIN_MS, HEALTHY_WITHIN_MS, memberStatus, postmasterPid, REPO_ROOT, sql, TestCluster } from '../helpers/cluster.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { callbackLog, EXAMPLE_REST_AUTH, EXAMPLE_SUPERUSER_PASSWORD, patroniExampleCluster } from './patroni-examples.js';

const basic = (auth: { username: string; password: string }) => `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;

describe("Patroni's example configurations postgres0/1/2.yml as a cluster, with Patroni's features that apply", { timeout: 900_000 }, () => {
  let cluster: TestCluster;
  let leader = '';
  const api = (name: string, p: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${cluster.node(name).apiPort}${p}`, { signal: AbortSignal.timeout(30_000), ...init });
  const replicas = () => cluster.nodes.map((n) => n.name).filter((n) => n !== leader);
  /** PATCH /config through `name` (postgresql2 wants its credentials; the others take them too). */
  const patchConfig = (name: string, patch: Record<string, unknown>) =>
    api(name, '/config', { method: 'PATCH', headers: { 'content-type': 'application/json', authorization: basic(EXAMPLE_REST_AUTH) }, body: JSON.stringify(patch) });
  /** Patroni's "Response on GET /config contains …": the key as the store holds it. */
  const waitForConfig = (what: string, ok: (config: Record<string, unknown>) => boolean) =>
    waitUntil(async () => ok((await (await api(leader, '/config')).json()) as Record<string, unknown>), { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `GET /config on ${leader} to show ${what}` });
  /** The one primary among `names`, once there is exactly one and its agent serves GET /leader; on timeout, the agents' last lines. */
  const newPrimaryAmong = (names: string[], what: string) =>
    waitUntil(
      async () => {
        const primaries = await cluster.primaries(names);
        return primaries.length === 1 && (await api(primaries[0]!, '/leader')).status === 200 ? primaries[0]! : null;
      },
      { timeoutMs: HEALTHY_WITHIN_MS, intervalMs: 200, what },
    ).catch((err: Error) => {
      const tails = cluster.nodes.map((n) => `--- ${n.name}'s agent\n${cluster.output(n.name).split('\n').slice(-25).join('\n')}`);
      throw new Error(`${err.message}\n${tails.join('\n')}`);
    });

  before(async () => {
    // The example pg_hba allows md5 only, with the superuser's password: our probes use it too.
    pg.defaults.password = EXAMPLE_SUPERUSER_PASSWORD;
    cluster = await patroniExampleCluster();
    for (const node of cluster.nodes) {
      // What a user runs first: the files load without an unknown or ignored key.
      const out = execFileSync(process.execPath, [BIN, 'agent', '--validate-config', '-c', node.configPath], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      assert.match(out, /configuration is valid/);
    }
    cluster.startAll();
  });

  after(async () => {
    await cluster?.destroy();
  });

  it('bootstraps a leader and two streaming replicas from the files', async () => {
    leader = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS);
    const [row] = await sql<{ sum: boolean }>(cluster.node(leader), "SELECT current_setting('data_checksums') = 'on' AS sum");
    assert.equal(row!.sum, true, 'initdb ran with the files\' data-checksums');
  });

  it('basic_replication: a table created on the leader is present on every replica', async () => {
    await sql(cluster.node(leader), 'CREATE TABLE foo (id int)');
    for (const r of replicas()) {
      await waitUntil(async () => (await sql<{ ok: boolean }>(cluster.node(r), "SELECT to_regclass('foo') IS NOT NULL AS ok"))[0]!.ok, {
        timeoutMs: LIVENESS_MS,
        intervalMs: 200,
        what: `table foo on ${r}`,
      });
    }
  });

  it('patroni_api: role endpoints answer 200/503 as Patroni, PATCH /config applies, postgresql2 wants its credentials', async () => {
    assert.equal((await api(leader, '/')).status, 200);
    assert.equal((await api(leader, '/primary')).status, 200);
    assert.equal((await api(leader, '/replica')).status, 503);
    for (const r of replicas()) {
      assert.equal((await api(r, '/primary')).status, 503, r);
      // A replica answers from its agent's last cycle: streaming on the leader's side (what the fixture's
      // waitForHealthy saw) may come a cycle before the replica's own agent has seen itself running.
      await waitUntil(async () => ((await api(r, '/replica')).status === 200 ? true : null), { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `${r} GET /replica 200` });
      const status = await memberStatus(cluster.node(r));
      assert.equal(status?.role, 'replica');
    }
    const patch = await api('postgresql2', '/config', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: basic(EXAMPLE_REST_AUTH) },
      body: JSON.stringify({ ttl: 20, loop_wait: 2, retry_timeout: 5 }),
    });
    assert.equal(patch.status, 200, await patch.text());
    const unauthenticated = await api('postgresql2', '/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"ttl": 21}' });
    assert.equal(unauthenticated.status, 401);
    // Patroni's step: "Response on GET /config contains ttl after N seconds" (the member reads the key on its cycle).
    await waitUntil(
      async () => {
        const config = (await (await api(leader, '/config')).json()) as { ttl: number; loop_wait: number };
        return config.ttl === 20 && config.loop_wait === 2;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `GET /config on ${leader} to show ttl 20, loop_wait 2` },
    );
  });

  it('patroni_api: an authenticated switchover through postgresql2 moves the leader', async () => {
    const candidate = replicas()[0]!;
    const res = await api('postgresql2', '/switchover', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic(EXAMPLE_REST_AUTH) },
      body: JSON.stringify({ leader, candidate }),
    });
    assert.equal(res.status, 200, await res.text());
    assert.equal(await cluster.waitForHealthy(undefined, HEALTHY_WITHIN_MS), candidate);
    leader = candidate;
  });

  it('recovery: a killed postmaster of the leader is started again as primary, on the same timeline', async () => {
    // The timeline as the agent reports it once it caught up with the switchover's promotion (GET /patroni
    // can still show the old one for a cycle right after it; the server's own WAL timeline is the truth).
    const [{ tl }] = (await sql<{ tl: string }>(cluster.node(leader), 'SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS tl')) as [{ tl: string }];
    const before = await waitUntil(
      async () => {
        const s = (await memberStatus(cluster.node(leader))) as { timeline: number } | null;
        return s && s.timeline === parseInt(tl, 16) ? s : null;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `GET /patroni of ${leader} to report timeline ${parseInt(tl, 16)}` },
    );
    const pid = postmasterPid(cluster.node(leader));
    assert.ok(pid, 'the leader has a postmaster');
    process.kill(pid, 'SIGKILL');
    const after = await waitUntil(
      async () => {
        const s = (await memberStatus(cluster.node(leader))) as { role: string; state: string; timeline: number } | null;
        return s && s.role === 'primary' && s.state === 'running' && postmasterPid(cluster.node(leader)) !== pid ? s : null;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `${leader} to run as primary again after its postmaster was killed` },
    );
    assert.equal(after.timeline, before.timeline, 'no promotion happened: the timeline is unchanged');
    assert.equal((await api(leader, '/')).status, 200);
    assert.equal(await cluster.waitForHealthy(undefined, HEALTHY_WITHIN_MS), leader);
  });

  it('recovery: with master_start_timeout 0 a killed postmaster of the leader fails over to a replica', async () => {
    const patch = await patchConfig(leader, { master_start_timeout: 0 });
    assert.equal(patch.status, 200, await patch.text());
    await waitForConfig('master_start_timeout 0', (c) => c.master_start_timeout === 0);
    const crashed = leader;
    const pid = postmasterPid(cluster.node(crashed));
    assert.ok(pid, 'the leader has a postmaster');
    const from = cluster.output(crashed).length;
    // On failure: what the crashed leader's agent did after the kill, steady lines left out.
    const since = (err: Error) => new Error(`${err.message}\n--- ${crashed}'s agent since the kill\n${cluster.output(crashed).slice(from).split('\n').filter((l) => !/INFO: no action\./.test(l)).slice(0, 60).join('\n')}`);
    process.kill(pid, 'SIGKILL');
    leader = await newPrimaryAmong(replicas(), `a replica of ${crashed} to take over after its postmaster was killed`).catch((err: Error) => {
      throw since(err);
    });
    await cluster.waitForLog(crashed, /Primary crashed\. Failing over\./).catch((err: Error) => {
      throw since(err);
    });
    // The old leader comes back as a replica of the new one (Patroni's next scenario starts from there).
    assert.equal(await cluster.waitForHealthy(undefined, HEALTHY_WITHIN_MS), leader);
  });

  it('recovery: with master_start_timeout back to its default, a crashed leader that fails to start gives the key up and reports on_role_change demoted', async () => {
    const patch = await patchConfig(leader, { master_start_timeout: null });
    assert.equal(patch.status, 200, await patch.text());
    await waitForConfig('no master_start_timeout', (c) => !('master_start_timeout' in c));
    const broken = leader;
    const node = cluster.node(broken);
    // Patroni's step "I ensure <member> fails to start after a failure": PostgreSQL refuses the file.
    const autoConf = path.join(node.dataDir, 'postgresql.auto.conf');
    const original = await fs.readFile(autoConf, 'utf8');
    await fs.writeFile(autoConf, 'foo=bar\n');
    const pid = postmasterPid(node);
    assert.ok(pid, 'the leader has a postmaster');
    process.kill(pid, 'SIGKILL');
    leader = await newPrimaryAmong(replicas(), `a member other than ${broken} to lead after ${broken} failed to start`);
    await cluster.waitForLog(broken, /starting primary after failure/);
    await cluster.waitForLog(broken, /removed leader key after trying and failing to start postgres/);
    await waitUntil(async () => (await fs.readFile(callbackLog(node), 'utf8').catch(() => '')).split('\n').includes(`on_role_change demoted ${cluster.scope}`), {
      timeoutMs: LIVENESS_MS,
      intervalMs: 100,
      what: `${broken}'s ${path.basename(callbackLog(node))} to hold "on_role_change demoted ${cluster.scope}"`,
    });
    // Once the file is fixed the member rejoins by itself, as a replica of the new leader.
    await fs.writeFile(autoConf, original);
    assert.equal(await cluster.waitForHealthy(undefined, HEALTHY_WITHIN_MS), leader);
  });
});
