// Three real `hactl agent` processes with real PostgreSQL (ttl 6, loop_wait 1, retry_timeout 2)
// under faults that do not kill the host: a crashed postmaster restarted in place while the lock
// is held, pause/resume (no automatic action while paused), and a SIGSTOPped leader agent with a
// writer committing to every member directly (split-brain detection). Needs `npm run build` first.
// Scenarios run in order on one cluster.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BOOTSTRAPPED_WITHIN_MS, FAST_TIMING, inRecovery, memberStatus, postmasterPid, sql, TestCluster } from '../helpers/cluster.js';
import { LIVENESS_MS, sleep, SUITE_MS, timerBoundMs, waitUntil } from '../helpers/wait.js';
import { analyzeWrites, Writer, writerTargets, type WriteAnalysis } from '../helpers/writer.js';

const { ttl } = FAST_TIMING;

describe('hactl agent: faults short of a dead host', { timeout: SUITE_MS }, () => {
  let cluster: TestCluster;
  let leader: string;
  let writer: Writer | null = null;

  const others = (name: string) => cluster.nodes.map((n) => n.name).filter((n) => n !== name);
  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.output(n.name).split('\n').slice(-25).join('\n')}`).join('\n');
  const api = (name: string, path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${cluster.node(name).apiPort}${path}`, { signal: AbortSignal.timeout(10_000), ...init });
  const timelineOf = async (name: string) => Number((await sql<{ tl: number }>(cluster.node(name), 'SELECT timeline_id AS tl FROM pg_control_checkpoint()'))[0]!.tl);

  before(async () => {
    cluster = await TestCluster.create({ size: 3 });
    cluster.startAll();
    leader = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
  });

  after(async () => {
    await writer?.stop().catch(() => {});
    await cluster?.destroy();
  });

  it('restarts a crashed primary in place while it holds the lock: same timeline, no failover', async () => {
    const timeline = await timelineOf(leader);
    const pm = postmasterPid(cluster.node(leader));
    assert.ok(pm !== null);
    process.kill(pm, 'SIGKILL');
    // The holder renews its key while it restarts PostgreSQL: no failover however long that takes;
    // the bound only catches a restart that never comes.
    await waitUntil(async () => (await inRecovery(cluster.node(leader))) === false && postmasterPid(cluster.node(leader)) !== pm, {
      timeoutMs: timerBoundMs(ttl * 1000),
      intervalMs: 100,
      what: `${leader} running as primary again`,
    }).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    assert.equal(await cluster.waitForHealthy(), leader, 'the lock holder stays the primary');
    assert.equal(await timelineOf(leader), timeline, 'restarted in place, not promoted');
    assert.match(cluster.output(leader), /INFO: starting primary after failure/);
    for (const name of others(leader)) assert.doesNotMatch(cluster.output(name), /promoted self to leader/);
  });

  it('takes no automatic action while paused: a killed primary is neither restarted nor failed over; resume recovers', async () => {
    const patch = await api(leader, '/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pause: true }) });
    assert.equal(patch.status, 200, await patch.text());
    for (const n of cluster.nodes) {
      await waitUntil(async () => (await memberStatus(n))?.pause === true, { timeoutMs: LIVENESS_MS, what: `${n.name} reporting pause` });
    }
    const pm = postmasterPid(cluster.node(leader))!;
    process.kill(pm, 'SIGKILL');
    // Past the ttl, and then each replica's agent had cycles to act: unpaused, the key would have
    // expired and a replica been promoted. (Counted in cycles: a loaded machine runs them late.)
    await sleep(ttl * 1000);
    for (const name of others(leader)) await cluster.waitForCycles(name, 3);
    assert.deepEqual(await cluster.primaries(), [], `no member is primary while paused\n${logs()}`);
    assert.equal(await inRecovery(cluster.node(leader)), null, 'the crashed primary was not restarted');
    for (const name of others(leader)) {
      assert.equal(await inRecovery(cluster.node(name)), true, `${name} still a replica`);
      assert.doesNotMatch(cluster.output(name), /promoted self to leader/);
    }
    assert.match(cluster.output(leader), /INFO: PAUSE: /);

    const resume = await api(others(leader)[0]!, '/config', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pause: false }),
    });
    assert.equal(resume.status, 200, await resume.text());
    leader = await cluster.waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
  });

  let stopped: { old: string; analysis: WriteAnalysis; promotedAfterMs: number; stopMs: number; lost: number } | null = null;

  it('SIGSTOP of the leader\'s agent beyond ttl: a replica is promoted, and the old primary is demoted and rejoins once the agent runs again', async () => {
    const old = leader;
    writer = new Writer({ mode: 'every-member', targets: writerTargets(cluster.nodes), intervalMs: 50, run: 'sigstop' });
    await writer.ensureTable();
    for (const name of others(old)) {
      await waitUntil(async () => (await sql(cluster.node(name), "SELECT to_regclass('hactl_writes') AS t"))[0]!.t !== null, { timeoutMs: LIVENESS_MS, what: `table on ${name}` });
    }
    writer.start();
    await waitUntil(() => writer!.acksOf(old).length >= 10, { timeoutMs: LIVENESS_MS, what: `commits acknowledged by ${old} before the SIGSTOP` });
    const proc = cluster.agents.get(old)!;
    const t0 = Date.now();
    proc.signal('SIGSTOP');
    const promoted = await waitUntil(async () => (await cluster.primaries(others(old)))[0], { timeoutMs: LIVENESS_MS, intervalMs: 100, what: 'a promoted replica' }).catch(
      (err: Error) => {
        proc.signal('SIGCONT');
        return assert.fail(`${err.message}\n${logs()}`);
      },
    );
    const promotedAfterMs = Date.now() - t0;
    // Keep it stopped a while past the promotion: a frozen agent cannot demote its PostgreSQL itself.
    await sleep(3000);
    const stopMs = Date.now() - t0;
    proc.signal('SIGCONT');
    await waitUntil(async () => (await inRecovery(cluster.node(old))) !== false, { timeoutMs: LIVENESS_MS, intervalMs: 100, what: `${old} no longer a primary` }).catch((err: Error) =>
      assert.fail(`${err.message}\n${logs()}`),
    );
    leader = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    assert.equal(leader, promoted);
    await waitUntil(() => writer!.acksOf(promoted).length >= 10, { timeoutMs: LIVENESS_MS, what: `commits acknowledged by ${promoted}` });
    await writer.stop();
    const finalRows = await writer.finalRows();
    const analysis = analyzeWrites(writer.acks, finalRows, { eventAtMs: t0, oldMember: old });
    stopped = { old, analysis, promotedAfterMs, stopMs, lost: analysis.missingAcked };
    process.stderr.write(
      `sigstop: promoted after ${promotedAfterMs} ms, agent stopped ${stopMs} ms; split-brain windows ${JSON.stringify(analysis.splitBrainWindows)}; ` +
        `acks on the old primary after SIGSTOP ${analysis.acksOnOldAfterEvent}; acknowledged commits lost ${analysis.missingAcked} of ${analysis.acked}\n`,
    );
    assert.ok(promotedAfterMs < timerBoundMs(ttl * 1000), `promotion took ${promotedAfterMs} ms`);
    assert.match(cluster.output(old), /demot/i, 'the old leader demoted itself once it ran again');
  });

  it('never two members acknowledging commits while the leader\'s agent is stopped: the fence stops the old primary first', async () => {
    assert.ok(stopped, 'the SIGSTOP scenario ran');
    assert.notEqual((await memberStatus(cluster.node(leader)))?.fence, undefined, 'the members run a fence (GET /patroni shows it)');
    assert.deepEqual(stopped.analysis.splitBrainWindows, [], `split-brain windows after SIGSTOP of ${stopped.old}`);
    // The same in order: the old primary's last acknowledgement comes before the new one's first.
    const lastOld = writer!.acksOf(stopped.old).at(-1)!.ackedAtMs;
    const firstNew = writer!.acksOf(leader)[0]!.ackedAtMs;
    assert.ok(lastOld < firstNew, `${stopped.old} acknowledged a commit ${lastOld - firstNew} ms after ${leader}'s first`);
  });
});
