// Fault suite, part 3 (issue 6 scenarios 3 and 4b), three members in network namespaces:
// - a replica whose replication connection is cut (iptables on the primary's PostgreSQL port,
//   Raft and REST still flowing) falls behind; `hactl switchover --candidate` to it is refused
//   with the reason and a non-zero exit; `hactl reinit` brings it back streaming;
// - SIGSTOP of the leader's agent: its watchdog (the `testing` driver on a FIFO read by
//   src/agent/watchdog/fake-device.ts) shows that a real device would have reset the host, a
//   replica is promoted, no two members acknowledge writes in the same period, and the old
//   primary rejoins after SIGCONT.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FakeWatchdogReport } from '../../src/agent/watchdog/fake-device.js';
import { BOOTSTRAPPED_WITHIN_MS, REPO_ROOT, sql } from '../helpers/cluster.js';
import { ProcessRegistry } from '../helpers/process.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../helpers/wait.js';
import { analyzeWrites, Writer } from '../helpers/writer.js';
import { agentLogs, apiFlags, createFaultCluster, destroyFaultCluster, hactl, netSupport, type FaultEnv } from './fault-fixture.js';

const FAKE_DEVICE = path.join(REPO_ROOT, 'dist', 'agent', 'watchdog', 'fake-device.js');

describe('fault suite: lagging switchover candidate, reinit, frozen leader agent', { timeout: SUITE_MS, skip: netSupport.ok ? false : netSupport.reason }, () => {
  const env: Partial<FaultEnv> = {};
  const devices = new ProcessRegistry();
  let tmp = '';
  let leader = '';
  let writer: Writer | undefined;

  const wdFifo = (name: string) => path.join(tmp, `${name}.wd`);
  const wdReport = (name: string) => path.join(tmp, `${name}.wd.json`);
  const others = (name: string) => env.cluster!.nodes.map((n) => n.name).filter((n) => n !== name);

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hactl-wd-'));
    Object.assign(
      env,
      await createFaultCluster({ requireNetwork: true, watchdog: (name) => ({ device: wdFifo(name), driver: 'testing', mode: 'automatic', safetyMargin: 2 }) }),
    );
    // The reader must hold each FIFO before the agent opens it (see fake-device.ts).
    for (const n of env.cluster!.nodes) {
      const proc = devices.spawn(`${n.name}-watchdog`, process.execPath, [FAKE_DEVICE, '--fifo', wdFifo(n.name), '--out', wdReport(n.name), '--mkfifo', '--poll-ms', '10']);
      await waitUntil(() => proc.output().includes('"ready":true'), { timeoutMs: LIVENESS_MS, what: `fake watchdog of ${n.name}` });
    }
    env.cluster!.startAll();
    leader = await env.cluster!.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${agentLogs(env.cluster!)}`));
  });

  after(async () => {
    await writer?.stop().catch(() => {});
    await destroyFaultCluster(env);
    await devices.killAll();
    devices.dispose();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('refuses a switchover to a lagging member with the reason and exit 1; reinit brings it back streaming', async () => {
    const { cluster, network } = env as FaultEnv;
    const lagging = others(leader)[0]!;
    const primary = cluster.node(leader);
    await network!.blockPort(primary.host, primary.pgPort, [cluster.node(lagging).host]);
    // About 8 MB of WAL the cut-off replica cannot receive (maximum_lag_on_failover is 1 MB).
    await sql(primary, "CREATE TABLE lagfill AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 30000) g");
    await sql(primary, 'CHECKPOINT');
    await waitUntil(
      async () => {
        const r = await fetch(`http://${primary.host}:${primary.apiPort}/cluster`).then((res) => res.json() as Promise<{ members: Array<{ name: string; lag?: number | string }> }>);
        const lag = r.members.find((m) => m.name === lagging)?.lag;
        return typeof lag === 'number' && lag > 1024 * 1024;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 250, what: `${lagging} lagging by more than 1 MB in /cluster` },
    );
    const refused = await hactl(['switchover', ...apiFlags(cluster.nodes), '--candidate', lagging, '--force']);
    assert.notEqual(refused.status, 0, `switchover to a lagging member was accepted:\n${refused.stdout}\n${refused.stderr}`);
    assert.match(refused.stderr + refused.stdout, /exceeds maximum replication lag|lag/i);
    assert.equal((await cluster.primaries())[0], leader, 'the leader did not change');

    await network!.heal();
    const reinit = await hactl(['reinit', ...apiFlags(cluster.nodes), lagging, '--force', '--wait']);
    assert.equal(reinit.status, 0, `hactl reinit failed:\n${reinit.stdout}\n${reinit.stderr}\n${agentLogs(cluster)}`);
    assert.equal(await cluster.waitForHealthy(), leader);
    const rows = await sql<{ n: string }>(cluster.node(lagging), 'SELECT count(*) AS n FROM lagfill');
    assert.equal(rows[0]!.n, '30000');
  });

  it('SIGSTOP of the leader agent: the watchdog would have fired, a replica is promoted, no split brain, the old primary rejoins', async () => {
    const { cluster } = env as FaultEnv;
    const old = leader;
    const targets = cluster.nodes.map((n) => ({ name: n.name, host: n.host, port: n.pgPort }));
    writer = new Writer({ mode: 'every-member', targets, intervalMs: 50, run: 'freeze', connectTimeoutMs: 1000, statementTimeoutMs: 2000 });
    await writer.ensureTable();
    for (const name of others(old)) {
      await waitUntil(async () => (await sql(cluster.node(name), "SELECT to_regclass('hactl_writes') AS t"))[0]!.t !== null, { timeoutMs: LIVENESS_MS, what: `table on ${name}` });
    }
    writer.start();
    await waitUntil(() => writer!.acksOf(old).length >= 10, { timeoutMs: LIVENESS_MS, what: `commits acknowledged by ${old} before the SIGSTOP` });
    const agent = cluster.agents.get(old)!;
    const t0 = Date.now();
    agent.signal('SIGSTOP');
    try {
      const promoted = await waitUntil(async () => (await cluster.primaries(others(old)))[0], { timeoutMs: LIVENESS_MS, intervalMs: 100, what: 'a promoted replica' });
      const report = await waitUntil(
        async () => {
          const r = JSON.parse(await fs.readFile(wdReport(old), 'utf8')) as FakeWatchdogReport;
          return r.analysis.wouldHaveFired ? r : null;
        },
        { timeoutMs: LIVENESS_MS, intervalMs: 250, what: `${old}'s watchdog reporting that it would have fired` },
      );
      assert.ok(report.analysis.firstFireAtMs! >= t0, 'fired only after the agent froze');
      leader = promoted;
      // The new primary takes writes while the old agent is still frozen: the window a split brain would show in.
      await waitUntil(() => writer!.acksOf(promoted).length >= 10, { timeoutMs: LIVENESS_MS, what: `commits acknowledged by ${promoted} while ${old}'s agent is stopped` });
    } finally {
      agent.signal('SIGCONT');
    }
    assert.equal(await cluster.waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${agentLogs(cluster)}`)), leader);
    await writer.stop();
    const analysis = analyzeWrites(writer.acks, await writer.finalRows(), { eventAtMs: t0, oldMember: old });
    if (process.env.HACTL_E2E_TIMINGS) process.stderr.write(`freeze: ${JSON.stringify({ ...analysis, missingSample: undefined })}\n`);
    assert.deepEqual(analysis.splitBrainWindows, [], `two members acknowledged writes in the same period after SIGSTOP of ${old}`);
    for (const n of cluster.nodes) {
      const r = JSON.parse(await fs.readFile(wdReport(n.name), 'utf8')) as FakeWatchdogReport;
      if (n.name !== old) assert.equal(r.analysis.wouldHaveFired, false, `${n.name}'s watchdog would have fired: ${JSON.stringify(r.analysis.gaps)}`);
    }
  });
});
