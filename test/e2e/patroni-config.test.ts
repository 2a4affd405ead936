// A configuration as Patroni's documentation writes it (its postgres0.yml … postgres2.yml with the raft
// section; initdb with `auth-host: scram-sha-256` / `auth-local: trust`, pg_hba with `host` lines only,
// REST authentication, no use_unix_socket, Patroni's own timing) runs unchanged apart from the ports and
// paths a test must set: hactl connects to its local server over TCP as Patroni does. A bootstrap that
// PostgreSQL refuses gives up as Patroni does, says why and what to change, and can be retried.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { planMembers, type LocalMember } from '../../src/demo/config.js';
import { TestCluster } from '../helpers/cluster.js';
import { tempDirForPostgres } from '../helpers/postgres.js';
import { SUITE_MS, waitUntil, withDeadline } from '../helpers/wait.js';

const SUPERUSER_PASSWORD = 'zalando-su';
const REST = { username: 'admin', password: 'rest-secret' };

interface PatroniStyle {
  /** The `host all all …` line of pg_hba; Patroni's example allows every address. */
  hbaAll?: string;
}

/** postgres<N>.yml in Patroni's shape: only names, ports and paths differ from the documented file. */
function patroniYaml(me: LocalMember, all: readonly LocalMember[], scope: string, style: PatroniStyle = {}): string {
  const partners = all.filter((m) => m !== me).map((m) => `  - 127.0.0.1:${m.raftPort}`);
  return `scope: ${scope}
name: ${me.name}

restapi:
  listen: 127.0.0.1:${me.apiPort}
  connect_address: 127.0.0.1:${me.apiPort}
  authentication:
    username: ${REST.username}
    password: ${REST.password}

raft:
  data_dir: ${me.base}/raft
  # hactl requires a Raft password (or this explicit opt-out); Patroni's examples have none.
  allow_unauthenticated: true
  self_addr: 127.0.0.1:${me.raftPort}
  partner_addrs:${partners.length ? `\n${partners.join('\n')}` : ' []'}

bootstrap:
  dcs:
    ttl: 30
    loop_wait: 10
    retry_timeout: 10
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      pg_hba:
      - host replication replicator 127.0.0.1/32 scram-sha-256
      - ${style.hbaAll ?? 'host all all 0.0.0.0/0 scram-sha-256'}
  initdb:
  - encoding: UTF8
  - data-checksums
  - auth-host: scram-sha-256
  - auth-local: trust

postgresql:
  listen: 127.0.0.1:${me.pgPort}
  connect_address: 127.0.0.1:${me.pgPort}
  data_dir: ${me.dataDir}
  pgpass: ${me.base}/pgpass
  authentication:
    replication:
      username: replicator
      password: rep-pass
    superuser:
      username: postgres
      password: ${SUPERUSER_PASSWORD}
    rewind:
      username: rewind_user
      password: rewind_password
  parameters:
    unix_socket_directories: '..'

watchdog:
  mode: off

tags:
  noloadbalance: false
  clonefrom: false
`;
}

const clusters: TestCluster[] = [];
after(async () => {
  for (const c of clusters) await c.destroy();
});

async function query<T extends pg.QueryResultRow>(member: LocalMember, text: string): Promise<T[]> {
  const client = new pg.Client({ host: '127.0.0.1', port: member.pgPort, user: 'postgres', password: SUPERUSER_PASSWORD, database: 'postgres', connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

async function patroniStatus(member: LocalMember): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${member.apiPort}/patroni`, { signal: AbortSignal.timeout(2000) });
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Members with Patroni-style files; the TestCluster only starts, and finally kills, agents and servers. */
async function plan(size: number, scope: string, style?: PatroniStyle): Promise<{ cluster: TestCluster; members: LocalMember[] }> {
  const members = await planMembers({ size, makeBase: () => tempDirForPostgres('hactl-px-') });
  for (const m of members) await fs.writeFile(m.configPath, patroniYaml(m, members, scope, style), { mode: 0o600 });
  const cluster = new TestCluster(scope, members);
  clusters.push(cluster);
  return { cluster, members };
}

describe("Patroni's documented example configuration", { timeout: SUITE_MS }, () => {
  it('bootstraps one primary and two streaming replicas with host-only scram pg_hba and no unix socket', async () => {
    const { cluster, members } = await plan(3, `batman-${process.pid}`);
    const agents = members.map((m) => cluster.startAgent(m.name));
    const outputs = () => agents.map((a) => `--- ${a.name}\n${a.output().slice(-3000)}`).join('\n');
    const primary = await waitUntil(
      async () => {
        for (const m of members) {
          const rows = await query<{ r: boolean }>(m, 'SELECT pg_is_in_recovery() AS r').catch(() => null);
          if (rows?.[0]?.r === false) return m;
        }
        return null;
      },
      { timeoutMs: 150_000, intervalMs: 500, what: 'a primary that accepts the superuser password over TCP' },
    ).catch((err: Error) => assert.fail(`${err.message}\n${outputs()}`));
    await waitUntil(
      async () => {
        const rows = await query<{ application_name: string; state: string }>(primary, 'SELECT application_name, state FROM pg_stat_replication');
        const streaming = rows.filter((r) => r.state === 'streaming').map((r) => r.application_name).sort();
        return streaming.length === 2 ? streaming : null;
      },
      { timeoutMs: 150_000, intervalMs: 500, what: 'two replicas streaming from the primary' },
    ).catch((err: Error) => assert.fail(`${err.message}\n${outputs()}`));
    // Nothing was refused along the way: every local connection used the pg_hba host lines.
    for (const a of agents) assert.doesNotMatch(a.output(), /refused hactl's connection|no pg_hba\.conf entry/, a.name);
    const status = await patroniStatus(primary);
    assert.equal(status?.role, 'primary');
    assert.equal(status?.problem, undefined);
  });

  it('gives up a bootstrap PostgreSQL refuses, with its reason and what to change, and bootstraps on retry once fixed', async () => {
    const scope = `refused-${process.pid}`;
    // No pg_hba line matches 127.0.0.1, where hactl connects: the server starts but refuses us.
    const { cluster, members: [member] } = await plan(1, scope, { hbaAll: 'host all all 10.255.255.1/32 scram-sha-256' });
    const first = cluster.startAgent(member!.name);
    const code = await withDeadline(first.exited, 120_000, `the agent to give up the bootstrap; output:\n${first.output()}`);
    const out = first.output();
    assert.equal(code, 1, out);
    assert.match(out, /ERROR: bootstrap failed: PostgreSQL at 127\.0\.0\.1:\d+ refused hactl's connection: no pg_hba\.conf entry for host "127\.0\.0\.1", user "postgres", database "postgres"/);
    assert.match(out, /add a line such as `host all postgres 127\.0\.0\.1\/32 scram-sha-256` to postgresql\.pg_hba/);
    assert.match(out, /removing initialize key after failed attempt to bootstrap the cluster/);
    assert.match(out, /CRITICAL: Failed to bootstrap cluster/);
    assert.doesNotMatch(out, /ERROR: stopping PostgreSQL/, 'shutdown must not trip over the emptied data directory');
    assert.deepEqual(readdirSync(member!.dataDir), [], 'the half-made cluster is removed');

    // The operator fixes the file and starts the agent again: the initialize key is gone, so it bootstraps.
    await fs.writeFile(member!.configPath, patroniYaml(member!, [member!], scope), { mode: 0o600 });
    const second = cluster.startAgent(member!.name);
    await waitUntil(async () => /initialized a new cluster/.test(second.output()) && (await patroniStatus(member!))?.role === 'primary', {
      timeoutMs: 120_000,
      intervalMs: 500,
      what: 'the retried bootstrap to initialize the cluster and run a primary',
    }).catch((err: Error) => assert.fail(`${err.message}\n${second.output()}`));

    // A running member whose server starts refusing us says so every cycle, and in GET /patroni.
    await query(member!, `ALTER ROLE postgres PASSWORD 'changed-behind-our-back'`);
    const problem = await waitUntil(
      async () => {
        const p = (await patroniStatus(member!))?.problem as { action: string; message: string } | undefined;
        return p?.action === 'connect' ? p : null;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'GET /patroni to show the refused local connection' },
    );
    assert.match(problem.message, /password authentication failed for user "postgres"; postgresql\.authentication\.superuser\.password does not match/);
    assert.match(second.output(), /ERROR: PostgreSQL at 127\.0\.0\.1:\d+ refused hactl's connection: password authentication failed/);
    assert.doesNotMatch(second.output(), /changed-behind-our-back|zalando-su/, 'no password in the log');
  });
});
