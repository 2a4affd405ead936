// Self-fencing end to end (issue 9): three real agents (ttl 6 / loop_wait 1 / retry_timeout 2), a
// writer committing every 50 ms to every member directly, and the three faults that leave a
// primary without a working agent: SIGSTOP of the leader's agent for longer than ttl, kill -9 of
// the leader's agent only (PostgreSQL left running), DROP of the leader's Raft and REST ports.
// In each: no period in which two members acknowledged commits, the old primary rejoins as a
// replica once the fault ends, and the acknowledged commits lost are printed. Then a dead fence
// process: kill -9 of the leader's fence → the agent restarts it within a cycle.
// Needs `npm run build`; root for the port fault (network namespaces), skipped otherwise.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultFenceDir } from '../../src/agent/fence/settings.js';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS, FAST_TIMING, memberStatus } from '../helpers/cluster.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../helpers/wait.js';
import { agentLogs, createFaultCluster, destroyFaultCluster, netSupport, type FaultEnv } from './fault-fixture.js';
import { describeRun, runFault, type FenceFault } from './fencing-faults.js';

const HOLD_MS = (FAST_TIMING.ttl + 5) * 1000;

/** Fence processes are detached from the agents: end them by their pid files before the temp dirs go. */
function killFences(env: Partial<FaultEnv>): void {
  for (const node of env.cluster?.nodes ?? []) {
    try {
      process.kill(Number(readFileSync(path.join(defaultFenceDir(node.dataDir), 'fence.pid'), 'utf8').trim()), 'SIGKILL');
    } catch {
      // none
    }
  }
}

describe('self-fencing: a primary without a working agent stops before anyone else can take over', { timeout: SUITE_MS }, () => {
  const env: Partial<FaultEnv> = {};
  const summary: string[] = [];

  before(async () => {
    Object.assign(env, await createFaultCluster());
  });

  after(async () => {
    process.stderr.write(`\nfencing e2e:\n  ${summary.join('\n  ')}\n`);
    killFences(env);
    await destroyFaultCluster(env);
  });

  it('bootstraps three members, each with a fence process', async () => {
    const { cluster } = env as FaultEnv;
    cluster.startAll();
    const leader = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${agentLogs(cluster)}`));
    const status = await waitUntil(async () => {
      const s = (await memberStatus(cluster.node(leader))) as { fence?: { running: boolean; armed: boolean; deadline_remaining_ms: number } } | null;
      return s?.fence?.armed ? s.fence : null;
    }, { timeoutMs: LIVENESS_MS, what: 'an armed fence on the leader' });
    assert.equal(status.running, true);
    assert.ok(status.deadline_remaining_ms > 0 && status.deadline_remaining_ms <= FAST_TIMING.ttl * 1000, JSON.stringify(status));
  });

  const faults: FenceFault[] = ['sigstop', 'kill-agent', 'block-ports'];
  for (const fault of faults) {
    it(`${fault}: zero split-brain windows, the old primary rejoins as a replica`, { skip: fault === 'block-ports' && !netSupport.ok ? netSupport.reason : false }, async () => {
      const { cluster, network } = env as FaultEnv;
      const r = await runFault(cluster, network, fault, { holdMs: HOLD_MS });
      summary.push(describeRun(r));
      process.stderr.write(`${describeRun(r)}\n`);
      assert.deepEqual(r.analysis.splitBrainWindows, [], `two members acknowledged commits in the same period\n${agentLogs(cluster)}`);
      assert.ok(r.newLeader !== null && r.newLeader !== r.oldLeader, `no new primary\n${agentLogs(cluster)}`);
      assert.ok(r.rejoinedAsReplica, `the old primary did not rejoin as a replica\n${agentLogs(cluster)}`);
      if (fault !== 'block-ports') assert.ok(r.fenceKills.length >= 1, `the fence did not fire\n${agentLogs(cluster)}`);
    });
  }

  it('kill -9 of the leader\'s fence process: the agent restarts it within a cycle and re-arms it', async () => {
    const { cluster } = env as FaultEnv;
    const leader = await cluster.waitForHealthy();
    type Fence = { running: boolean; armed: boolean; pid: number | null; restarts: number };
    const fenceOf = async () => ((await memberStatus(cluster.node(leader))) as { fence?: Fence } | null)?.fence ?? null;
    const before = await waitUntil(async () => ((await fenceOf())?.pid ? await fenceOf() : null), { timeoutMs: LIVENESS_MS, what: 'the fence pid' });
    process.kill(before.pid!, 'SIGKILL');
    const t0 = Date.now();
    const after = await waitUntil(async () => {
      const f = await fenceOf();
      return f && f.running && f.armed && f.pid !== before.pid ? f : null;
    }, { timeoutMs: (FAST_TIMING.loop_wait + 3) * 1000, intervalMs: 50, what: 'a restarted, armed fence' });
    summary.push(`fence kill -9: restarted as pid ${after.pid} after ${Date.now() - t0} ms (restarts ${after.restarts})`);
    assert.ok(after.restarts >= 1);
    assert.deepEqual(await cluster.primaries(), [leader], 'the primary kept running under the new fence');
    assert.match(cluster.output(leader), /restarted the fence process/);
  });
});
