// Patroni's acceptance feature `frozen_patroni` (features/frozen_patroni.feature of patroni/patroni,
// master de6b22c8): its first five scenarios are v3.0.2's `watchdog` feature, ported in
// watchdog.test.ts; this file ports the last three, on two members: the primary (node1, postgres-0) with
// the emulated watchdog device (src/agent/watchdog/fake-device.ts, the `testing` driver, as Patroni's
// harness emulates /dev/watchdog) and a replica (node2) without one. As in Patroni's harness the members
// keep their state in one etcd member: a frozen agent would freeze its embedded Raft member too, and
// two Raft members without one have no quorum.
// The fixture's ttl (6 s), loop_wait 1 and safety_margin 2 stand for the feature's ttl 20, loop_wait 3
// and safety_margin 5; primary_race_backoff is the feature's 6 s.
// As in Patroni's harness, node1 runs without hactl's fence (`fence: {mode: off}`): the frozen primary
// stays "active" (writable), so WAL keeps reaching node2 after the leader key expires and node2 backs off
// the race (primary_race_backoff), then is promoted despite node1 being active: two primaries until node1's
// agent wakes, which only a real watchdog would prevent. With the fence on (the default), the frozen
// primary's PostgreSQL is stopped before its key expires (test/e2e/fencing.test.ts).
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FakeWatchdogReport } from '../../src/agent/watchdog/fake-device.js';
import { BOOTSTRAPPED_WITHIN_MS, FAST_TIMING, REPO_ROOT, sql, TestCluster } from '../helpers/cluster.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { tempDirForPostgres } from '../helpers/postgres.js';
import type { ManagedProcess } from '../helpers/process.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { replicationWorks } from './steps.js';

const FAKE_DEVICE = path.join(REPO_ROOT, 'dist', 'agent', 'watchdog', 'fake-device.js');
const SAFETY_MARGIN = 2;
const BACKOFF = 6;
const TTL = 6;

describe("Patroni's frozen_patroni feature: a frozen primary's watchdog fires and the replica takes over", { timeout: 600_000 }, () => {
  let etcd: EtcdCluster;
  let cluster: TestCluster;
  let device: ManagedProcess;
  let reportFile = '';
  let frozen: ManagedProcess | null = null;
  let writer: ReturnType<typeof startWriter> | null = null;

  /** Writes on node1 (txid_current(), as Patroni's steps) every 100 ms until stopped; `last` is the last outcome. */
  function startWriter() {
    const state = { writes: 0, last: '', stopped: false, done: Promise.resolve(), stop: async () => {} };
    state.done = (async () => {
      while (!state.stopped) {
        state.last = await sql(cluster.node('node1'), 'SELECT pg_catalog.txid_current()').then(() => 'writable', (e: Error) => e.message);
        if (state.last === 'writable') state.writes++;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    state.stop = async () => {
      state.stopped = true;
      await state.done;
    };
    return state;
  }

  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.history(n.name).split('\n').slice(-25).join('\n')}`).join('\n');
  const withLogs = (err: Error): never => assert.fail(`${err.message}\n${logs()}`);
  const report = async (): Promise<FakeWatchdogReport['analysis']> => (JSON.parse(await fs.readFile(reportFile, 'utf8')) as FakeWatchdogReport).analysis;
  /** Waits until the device's analysis satisfies `ok` (the fake device rewrites its report every few ms). */
  const deviceShows = (what: string, ok: (a: FakeWatchdogReport['analysis']) => boolean, timeoutMs = LIVENESS_MS) =>
    waitUntil(async () => {
      const a = await report().catch(() => null);
      return a && ok(a) ? a : null;
    }, { timeoutMs, intervalMs: 100, what: `the emulated watchdog to show ${what}` });

  before(async () => {
    etcd = await EtcdCluster.start({ members: 1 });
    const base = await tempDirForPostgres('hactl-compat-frozen-');
    const fifo = path.join(base, 'watchdog');
    reportFile = path.join(base, 'watchdog.json');
    cluster = await TestCluster.create({
      size: 2,
      timing: { ...FAST_TIMING, ttl: TTL },
      store: { etcd3: { hosts: etcd.endpoints } },
      watchdog: (name) => (name === 'node1' ? { device: fifo, driver: 'testing', mode: 'automatic', safetyMargin: SAFETY_MARGIN } : undefined),
      // Patroni's harness has no fence: the frozen primary must stay writable (see the header).
      extraYaml: (name) => (name === 'node1' ? 'fence:\n  mode: off\n' : ''),
    });
    // The reader must hold the FIFO before the agent opens it (fake-device.ts).
    device = cluster.registry.spawn('watchdog', process.execPath, [FAKE_DEVICE, '--fifo', fifo, '--out', reportFile, '--mkfifo', '--poll-ms', '10'], { cwd: REPO_ROOT });
    await waitUntil(() => device.output().includes('"ready":true'), { timeoutMs: LIVENESS_MS, what: 'the emulated watchdog device to be ready' });
  });

  after(async () => {
    // A frozen agent cannot act on SIGTERM: wake it so the fixture stops it cleanly.
    await writer?.stop();
    if (frozen && !frozen.hasExited) frozen.signal('SIGCONT');
    await cluster?.destroy();
    await etcd?.stop();
  });

  it('prepares a two-member cluster: the primary with the watchdog pinged, the replica streaming from it', async () => {
    cluster.startAgent('node1');
    assert.equal(await cluster.waitForHealthy(['node1'], BOOTSTRAPPED_WITHIN_MS).catch(withLogs), 'node1');
    cluster.startAgent('node2');
    assert.equal(await cluster.waitForHealthy(['node1', 'node2'], BOOTSTRAPPED_WITHIN_MS).catch(withLogs), 'node1');
    const res = await fetch(`http://127.0.0.1:${cluster.node('node1').apiPort}/config`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ primary_race_backoff: BACKOFF }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.equal((JSON.parse(body) as { primary_race_backoff?: unknown }).primary_race_backoff, BACKOFF, body);
    // Implemented now, so not reported as an unknown key.
    assert.doesNotMatch(cluster.output('node1'), /primary_race_backoff/);
    await replicationWorks(cluster, 'node1', 'node2');
    const before = (await report()).keepalives;
    const a = await deviceShows('three more keepalives', (r) => r.armed && r.keepalives >= before + 3);
    assert.equal(a.timeoutSeconds, TTL - SAFETY_MARGIN);
    assert.equal(a.wouldHaveFired, false, `no gap longer than the timeout so far: ${JSON.stringify(a.gaps)}`);
  });

  it("the watchdog is triggered when the primary's agent stops responding", async () => {
    frozen = cluster.agents.get('node1')!;
    const timeoutSeconds = (await report()).timeoutSeconds;
    // Patroni's "postgres-0 hangs for 60 seconds": the agent stops; its PostgreSQL runs on.
    frozen.signal('SIGSTOP');
    // "postgres-0 is active": as Patroni's steps write on it at every poll, a writer keeps its WAL moving
    // from now until node2 is promoted, whatever the load makes of the steps' timing.
    writer = startWriter();
    await waitUntil(() => writer!.writes > 0 || null, { timeoutMs: LIVENESS_MS, what: 'a first write on the frozen agent\'s PostgreSQL' }).catch((err: Error) =>
      withLogs(new Error(`${err.message}; last: ${writer!.last}`)),
    );
    const a = await deviceShows('that it would have fired', (r) => r.wouldHaveFired, (timeoutSeconds + 20) * 1000).catch(withLogs);
    assert.ok(a.gaps.some((g) => g.gapMs > timeoutSeconds * 1000), JSON.stringify(a.gaps));
  });

  // Patroni's "primary race backoff is triggered on postgres-1 in 12 seconds because postgres-0 is active".
  it('the replica backs off the leader race while the WAL from the primary still moves (primary_race_backoff)', async () => {
    await cluster.waitForLog('node2', /My \(node2\) wal position moved since last heart beat loop, -?\d+ seconds until leader race/).catch(withLogs);
  });

  // Patroni's "postgres-1 is promoted to primary in 20 seconds despite postgres-0 being active".
  it('the replica is promoted once the backoff is over, despite the frozen primary being active', async () => {
    await waitUntil(
      () => sql<{ r: boolean }>(cluster.node('node2'), 'SELECT pg_is_in_recovery() AS r').then((rows) => rows[0]!.r === false, () => false),
      { timeoutMs: LIVENESS_MS, intervalMs: 100, what: 'node2 to be promoted (pg_is_in_recovery() false)' },
    ).catch((err: Error) => withLogs(new Error(`${err.message}; node1's last write: ${writer!.last}`)));
    await writer!.stop();
    assert.equal(writer!.last, 'writable', 'node1 was still active when node2 was promoted');
    const log = cluster.history('node2');
    const lines = log.split('\n').filter((l) => /My \(node2\) wal position moved since last heart beat loop, -?\d+ seconds until leader race/.test(l));
    // The first line holds back the first loop_wait whatever the WAL does (Patroni's guard); a second one
    // needs the WAL to have moved since the cycle before: the backoff followed the stream.
    assert.ok(lines.length >= 2, `at least two backoff lines, got:\n${lines.join('\n')}`);
    const countdown = lines.map((l) => Number(/, (-?\d+) seconds until/.exec(l)![1]));
    assert.ok(countdown[0]! <= BACKOFF && countdown.every((v, i) => i === 0 || v <= countdown[i - 1]!), `a countdown from at most ${BACKOFF}: ${countdown.join(', ')}`);
    const promotedAt = log.indexOf('promoted self to leader by acquiring session lock');
    assert.ok(promotedAt > log.lastIndexOf(lines[lines.length - 1]!), 'promoted after the last backoff line');
  });

  it('the frozen agent, woken, finds the key taken and its primary is demoted', async () => {
    frozen!.signal('SIGCONT');
    await waitUntil(async () => (await sql<{ r: boolean }>(cluster.node('node1'), 'SELECT pg_is_in_recovery() AS r').catch(() => [{ r: false }]))[0]!.r, {
      timeoutMs: LIVENESS_MS,
      intervalMs: 200,
      what: "node1's PostgreSQL to run as a replica once its agent is woken",
    }).catch(withLogs);
    assert.equal(await cluster.waitForHealthy(['node1', 'node2'], BOOTSTRAPPED_WITHIN_MS).catch(withLogs), 'node2');
  });
});
