// Three real `hactl agent` processes (ttl 6, loop_wait 1, retry_timeout 2) with REST
// authentication and the `testing` watchdog driver writing to a FIFO that the fake device
// (src/agent/watchdog/fake-device.ts) reads: health-check codes and 401s on a live cluster, a
// switchover refused for a lagging candidate, and the watchdog set to ttl − safety_margin, fed by
// the leader and closed with the magic character on shutdown. Needs `npm run build` first.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BOOTSTRAPPED_WITHIN_MS, FAST_TIMING, memberStatus, REPO_ROOT, sql, TestCluster } from '../helpers/cluster.js';
import type { ManagedProcess } from '../helpers/process.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../helpers/wait.js';
import type { FakeWatchdogReport } from '../../src/agent/watchdog/fake-device.js';

const { ttl, loop_wait: loopWait } = FAST_TIMING;
const SAFETY_MARGIN = 2;
const AUTH = { username: 'admin', password: 'api-secret' };
const FAKE_DEVICE = path.join(REPO_ROOT, 'dist', 'agent', 'watchdog', 'fake-device.js');

describe('hactl agent: REST API, switchover refusal and watchdog on a live cluster', { timeout: SUITE_MS }, () => {
  let cluster: TestCluster;
  let leader: string;
  const devices = new Map<string, { fifo: string; report: string; proc: ManagedProcess }>();
  let stoppedWalReceiver: number | null = null;

  const others = (name: string) => cluster.nodes.map((n) => n.name).filter((n) => n !== name);
  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.output(n.name).split('\n').slice(-25).join('\n')}`).join('\n');
  const basic = `Basic ${Buffer.from(`${AUTH.username}:${AUTH.password}`).toString('base64')}`;
  const api = (name: string, p: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${cluster.node(name).apiPort}${p}`, { signal: AbortSignal.timeout(30_000), ...init });
  const post = (name: string, p: string, body: unknown, authorization?: string) =>
    api(name, p, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
    });
  const readReport = async (name: string): Promise<FakeWatchdogReport> => JSON.parse(await fs.readFile(devices.get(name)!.report, 'utf8')) as FakeWatchdogReport;

  before(async () => {
    cluster = await TestCluster.create({ size: 3 });
    for (const node of cluster.nodes) {
      const fifo = path.join(node.base, 'watchdog');
      const report = path.join(node.base, 'watchdog.json');
      // The reader must hold the FIFO before the agent opens it (see fake-device.ts).
      const proc = cluster.registry.spawn(`${node.name}-watchdog`, process.execPath, [FAKE_DEVICE, '--fifo', fifo, '--out', report, '--mkfifo', '--poll-ms', '10'], { cwd: REPO_ROOT });
      await waitUntil(() => proc.output().includes('"ready":true'), { timeoutMs: LIVENESS_MS, what: `fake watchdog of ${node.name}` });
      devices.set(node.name, { fifo, report, proc });
      let yaml = await fs.readFile(node.configPath, 'utf8');
      yaml = yaml.replace('restapi:\n', `restapi:\n  authentication:\n    username: ${AUTH.username}\n    password: ${AUTH.password}\n`);
      yaml = yaml.replace('watchdog:\n  mode: off\n', `watchdog:\n  mode: automatic\n  driver: testing\n  device: ${fifo}\n  safety_margin: ${SAFETY_MARGIN}\n`);
      await fs.writeFile(node.configPath, yaml, { mode: 0o600 });
    }
    cluster.startAll();
    leader = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
  });

  after(async () => {
    if (stoppedWalReceiver !== null) {
      try {
        process.kill(stoppedWalReceiver, 'SIGCONT');
      } catch {
        // gone
      }
    }
    await cluster?.destroy();
  });

  it('answers the health checks with Patroni\'s codes: /primary 200 and /replica 503 on the leader, the reverse on a replica', async () => {
    const replica = others(leader)[0]!;
    // A member's health reflects its last cycle: wait until the replica has reported streaming once.
    await waitUntil(async () => (await memberStatus(cluster.node(replica)))?.replication_state === 'streaming', { timeoutMs: LIVENESS_MS, what: `${replica} streaming` });
    const codes = async (name: string) => Object.fromEntries(await Promise.all(['/primary', '/leader', '/replica', '/read-only', '/health'].map(async (p) => [p, (await api(name, p)).status])));
    assert.deepEqual(await codes(leader), { '/primary': 200, '/leader': 200, '/replica': 503, '/read-only': 200, '/health': 200 }, logs());
    assert.deepEqual(await codes(replica), { '/primary': 503, '/leader': 503, '/replica': 200, '/read-only': 200, '/health': 200 }, logs());
    const status = (await (await api(leader, '/patroni')).json()) as { role: string; state: string };
    assert.equal(status.role, 'primary');
    assert.equal(status.state, 'running');
  });

  it('refuses unsafe methods without valid credentials (401) and carries them out with them', async () => {
    const replica = others(leader)[1]!;
    const none = await post(replica, '/restart', {});
    assert.equal(none.status, 401, await none.text());
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic/);
    const wrong = await post(replica, '/restart', {}, `Basic ${Buffer.from('admin:nope').toString('base64')}`);
    assert.equal(wrong.status, 401);
    assert.equal((await post(leader, '/switchover', { leader, candidate: replica })).status, 401);
    assert.equal((await api(leader, '/config', { method: 'PATCH', body: '{"pause":true}' })).status, 401);
    assert.equal((await api(leader, '/patroni')).status, 200, 'safe methods need no credentials');
    assert.deepEqual(await cluster.primaries(), [leader], `nothing happened\n${logs()}`);

    // A restart is refused while the member is still being cloned ("clone already in progress").
    await waitUntil(async () => (await memberStatus(cluster.node(replica)))?.replication_state === 'streaming', { timeoutMs: LIVENESS_MS, what: `${replica} streaming` });
    const before = (await memberStatus(cluster.node(replica)))?.postmaster_start_time;
    const ok = await post(replica, '/restart', {}, basic);
    assert.equal(ok.status, 200, await ok.text());
    await waitUntil(async () => (await memberStatus(cluster.node(replica)))?.postmaster_start_time !== before, { timeoutMs: LIVENESS_MS, what: `${replica} restarted` });
    assert.equal(await cluster.waitForHealthy(), leader);
  });

  it('refuses a switchover to a lagging candidate with the reason (412) and keeps the leader', async () => {
    const candidate = others(leader)[0]!;
    // Stop the candidate's WAL receiver (pausing replay would not do: received WAL is what counts),
    // then write more than maximum_lag_on_failover (1 MiB) on the primary.
    const [row] = await sql<{ pid: number }>(cluster.node(candidate), 'SELECT pid FROM pg_stat_wal_receiver');
    assert.ok(row, `${candidate} has a WAL receiver`);
    stoppedWalReceiver = row.pid;
    process.kill(row.pid, 'SIGSTOP');
    await sql(cluster.node(leader), "CREATE TABLE bulk AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 30000) g");
    // The leader judges lag by the positions it publishes each cycle: wait until /cluster shows it.
    await waitUntil(
      async () => {
        const body = (await (await api(leader, '/cluster')).json()) as { members: { name: string; lag?: number | string }[] };
        const lag = body.members.find((m) => m.name === candidate)?.lag;
        return typeof lag === 'number' && lag > 1024 * 1024;
      },
      { timeoutMs: LIVENESS_MS, what: `/cluster on ${leader} showing ${candidate} more than 1 MiB behind` },
    );
    const res = await post(leader, '/switchover', { leader, candidate }, basic);
    const text = await res.text();
    assert.equal(res.status, 412, `${text}\n${logs()}`);
    assert.match(text, new RegExp(`switchover is not possible: member ${candidate} exceeds maximum replication lag \\(\\d+ bytes behind`));
    // Nothing may follow the refusal: give every agent two cycles to act, then look.
    for (const n of cluster.nodes) await cluster.waitForCycles(n.name, 2);
    assert.deepEqual(await cluster.primaries(), [leader]);
    assert.equal(((await (await api(leader, '/cluster')).json()) as { members: { name: string; role: string }[] }).members.find((m) => m.role === 'leader')?.name, leader);

    process.kill(row.pid, 'SIGCONT');
    stoppedWalReceiver = null;
    await waitUntil(async () => Number((await sql<{ n: string }>(cluster.node(candidate), 'SELECT count(*) AS n FROM bulk').catch(() => [{ n: '0' }]))[0]!.n) === 30000, {
      timeoutMs: LIVENESS_MS,
      what: `${candidate} caught up`,
    });
  });

  it('arms the leader\'s watchdog with ttl − safety_margin, feeds it every loop, and leaves replicas\' closed', async () => {
    const expected = ttl - SAFETY_MARGIN;
    assert.match(cluster.output(leader), new RegExp(`activated with ${expected} second timeout, timing slack ${expected - loopWait} seconds`));
    const first = await readReport(leader);
    assert.ok(first.events.some((e) => e.type === 'timeout' && e.seconds === expected), JSON.stringify(first.events.slice(0, 5)));
    assert.equal(first.analysis.timeoutSeconds, expected);
    assert.equal(first.analysis.armed, true);
    const later = await waitUntil(
      async () => {
        const report = await readReport(leader);
        return report.analysis.keepalives >= first.analysis.keepalives + 3 ? report : null;
      },
      { timeoutMs: LIVENESS_MS, what: `three more keepalives of ${leader}'s watchdog` },
    );
    assert.equal(later.analysis.wouldHaveFired, false, JSON.stringify(later.analysis.gaps));
    for (const name of others(leader)) {
      const report = await readReport(name);
      assert.equal(report.analysis.armed, false, `${name}'s watchdog is not armed`);
    }
  });

  it('disables the watchdog with the magic close when the leader\'s agent shuts down', async () => {
    const proc = cluster.agents.get(leader)!;
    proc.signal('SIGTERM');
    assert.equal(await proc.exited, 0, proc.output());
    const report = await waitUntil(
      async () => {
        const r = await readReport(leader);
        return r.analysis.magicCloses > 0 ? r : null;
      },
      { timeoutMs: LIVENESS_MS, what: 'a magic close' },
    );
    assert.equal(report.analysis.uncleanCloses, 0);
    assert.equal(report.analysis.armed, false);
    assert.equal(report.analysis.wouldHaveFired, false);
    assert.match(proc.output(), /disabled/);
  });
});
