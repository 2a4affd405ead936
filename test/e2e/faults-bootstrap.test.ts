// Fault suite, part 1 (issue 6 scenarios 1, 4a and 5): three hosts (network namespaces when root),
// bootstrap; libpq's multi-host target_session_attrs reaches the primary / a replica; HAProxy with
// `option httpchk GET /primary` and `GET /replica` routes writes to the primary and reads to
// replicas; kill -9 of every process of the leader host; HAProxy follows the new primary.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS } from '../helpers/cluster.js';
import { freePorts } from '../helpers/net.js';
import { ProcessRegistry } from '../helpers/process.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../helpers/wait.js';
import { agentLogs, createFaultCluster, destroyFaultCluster, multiHost, netSupport, psql, type FaultEnv } from './fault-fixture.js';

const haproxyBin = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find((p) => spawnSync(p, ['-v'], { stdio: 'ignore' }).status === 0);

/** The HAProxy configuration of examples/haproxy.cfg, pointed at this cluster. */
function haproxyConfig(env: FaultEnv, ports: { primary: number; replicas: number }, statsSocket: string): string {
  const servers = env.cluster.nodes.map((n) => `    server ${n.name} ${n.host}:${n.pgPort} check port ${n.apiPort}`).join('\n');
  return `global
    stats socket ${statsSocket} level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 1s
listen primary
    bind 127.0.0.1:${ports.primary}
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 300ms fall 2 rise 1 on-marked-down shutdown-sessions
${servers}
listen replicas
    bind 127.0.0.1:${ports.replicas}
    balance roundrobin
    option httpchk GET /replica
    http-check expect status 200
    default-server inter 300ms fall 2 rise 1 on-marked-down shutdown-sessions
${servers}
`;
}

describe('fault suite: bootstrap, multi-host libpq, HAProxy, kill -9 of the leader host', { timeout: SUITE_MS }, () => {
  const env: Partial<FaultEnv> = {};
  const procs = new ProcessRegistry();
  let tmp = '';
  let leader = '';
  let ports = { primary: 0, replicas: 0 };

  before(async () => {
    Object.assign(env, await createFaultCluster());
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hactl-hap-'));
  });

  after(async () => {
    await procs.killAll();
    procs.dispose();
    await destroyFaultCluster(env);
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  const nodes = () => env.cluster!.nodes;
  const via = (port: number) => `host=127.0.0.1 port=${port} user=postgres dbname=postgres`;

  /**
   * HAProxy starts with every server UP and marks the replicas DOWN only after `fall` failed
   * checks: wait until several connections in a row land on the expected primary.
   */
  async function waitForRoute(haPort: number, query: string, expected: string, output: () => string = () => ''): Promise<void> {
    let streak = 0;
    await waitUntil(
      () => {
        streak = psql(via(haPort), query).stdout === expected ? streak + 1 : 0;
        return streak >= 6;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 100, what: `HAProxy port ${haPort} answering ${expected} to ${query} six times in a row\n${output()}` },
    );
  }
  const waitForPrimaryRoute = (pgPort: string, output?: () => string) => waitForRoute(ports.primary, 'SELECT inet_server_port()', pgPort, output);

  it('bootstraps one primary and two streaming replicas', async () => {
    const cluster = env.cluster!;
    cluster.startAll();
    leader = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${agentLogs(cluster)}`));
  });

  // Without root the members share 127.0.0.1 (no namespaces): that part is reported as skipped, not passed.
  it('puts each member on its own address, as on three hosts', { skip: netSupport.ok ? false : netSupport.reason }, () => {
    assert.equal(new Set(nodes().map((n) => n.host)).size, 3);
  });

  it('psql with target_session_attrs=read-write reaches the primary and read-only a replica', () => {
    const rw = psql(multiHost(nodes(), 'read-write'), "SELECT host(inet_server_addr()) || ':' || inet_server_port() || ' ' || pg_is_in_recovery()");
    assert.equal(rw.status, 0, rw.stderr);
    const leaderNode = env.cluster!.node(leader);
    assert.equal(rw.stdout, `${leaderNode.host}:${leaderNode.pgPort} false`);
    const ro = psql(multiHost(nodes(), 'read-only'), "SELECT inet_server_port() || ' ' || pg_is_in_recovery()");
    assert.equal(ro.status, 0, ro.stderr);
    const [port, recovery] = ro.stdout.split(' ');
    assert.equal(recovery, 'true');
    assert.notEqual(Number(port), leaderNode.pgPort);
    const write = psql(multiHost(nodes(), 'read-only'), 'CREATE TABLE nope (id int)');
    assert.notEqual(write.status, 0, 'a replica accepted a write');
    assert.match(write.stderr, /read-only transaction/);
  });

  it('HAProxy sends writes to the primary and reads to the replicas', { skip: haproxyBin ? false : 'haproxy is not installed (apt-get install -y haproxy)' }, async () => {
    const [primary, replicas] = await freePorts(2);
    ports = { primary: primary!, replicas: replicas! };
    const cfg = path.join(tmp, 'haproxy.cfg');
    await fs.writeFile(cfg, haproxyConfig(env as FaultEnv, ports, path.join(tmp, 'stats.sock')));
    const check = spawnSync(haproxyBin!, ['-c', '-f', cfg], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    const hap = procs.spawn('haproxy', haproxyBin!, ['-f', cfg, '-db']);
    await waitForPrimaryRoute(String(env.cluster!.node(leader).pgPort), hap.output);
    const w = psql(via(ports.primary), 'CREATE TABLE hap (id int); INSERT INTO hap VALUES (1); SELECT count(*) FROM hap');
    assert.equal(w.status, 0, w.stderr);
    const seen = new Set<string>();
    await waitUntil(
      () => {
        // Counting the rows also waits for the write to reach the replica (asynchronous replication).
        const r = psql(via(ports.replicas), "SELECT inet_server_port() || ' ' || pg_is_in_recovery() FROM hap");
        if (r.status === 0 && r.stdout) seen.add(r.stdout);
        return seen.size >= 2;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 100, what: `reads spread over both replicas (seen ${[...seen].join(', ')})` },
    );
    for (const s of seen) assert.match(s, / true$/, `read served by a primary: ${s}`);
  });

  it('after kill -9 of the leader host (agent and PostgreSQL) a replica takes over, HAProxy follows', async () => {
    const cluster = env.cluster!;
    const old = leader;
    await cluster.killHard(old);
    const survivors = nodes().map((n) => n.name).filter((n) => n !== old);
    leader = await cluster.waitForHealthy(survivors).catch((err: Error) => assert.fail(`${err.message}\n${agentLogs(cluster)}`));
    assert.notEqual(leader, old);
    const rw = psql(multiHost(nodes(), 'read-write'), 'SELECT inet_server_port()');
    assert.equal(rw.stdout, String(cluster.node(leader).pgPort), rw.stderr);
    if (ports.primary) {
      await waitForPrimaryRoute(String(cluster.node(leader).pgPort), () => '');
      const w = psql(via(ports.primary), 'INSERT INTO hap VALUES (2)');
      assert.equal(w.status, 0, w.stderr);
      const replica = survivors.find((n) => n !== leader)!;
      await waitForRoute(ports.replicas, "SELECT inet_server_port() || ' ' || pg_is_in_recovery()", `${cluster.node(replica).pgPort} true`);
    }
    // The old host comes back: its agent rejoins as a replica of the new primary.
    cluster.startAgent(old);
    await cluster.waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${agentLogs(cluster)}`));
  });
});
