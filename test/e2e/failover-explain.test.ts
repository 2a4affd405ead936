// Issue 17, "explain failover", on three real agents and PostgreSQL servers (ttl 6, loop_wait 1):
// `hactl failover --dry-run` and GET /failover/candidates name who would take over and why each
// other member would not (lag in bytes against maximum_lag_on_failover, unreachable, paused); a
// switchover refused with 412 carries the per-member reasons and the CLI prints them; then the
// leader dies and the member the dry run named is the one that takes over. Needs `npm run build`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BOOTSTRAPPED_WITHIN_MS, memberStatus, sql, TestCluster } from '../helpers/cluster.js';
import { HEALTHY_WITHIN_MS } from '../helpers/cluster.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../helpers/wait.js';
import { runCli, type CliResult } from '../commands/run-cli.js';
import type { FailoverCandidatesJson } from '../../src/protocol/index.js';

describe('explained failover: dry run, reasons in refusals, the prediction against a real failover', { timeout: SUITE_MS }, () => {
  let cluster: TestCluster;
  let leader: string;
  /** The replica whose WAL receiver is stopped (lagging) and the healthy one. */
  let lagging: string;
  let healthy: string;
  const stopped: number[] = [];

  const url = (name: string) => `http://127.0.0.1:${cluster.node(name).apiPort}`;
  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.output(n.name).split('\n').slice(-20).join('\n')}`).join('\n');
  const cli = (args: string[], via = leader): Promise<CliResult> => runCli([...args, '--api', url(via)]);
  const dryRun = async (args: string[] = [], via = leader): Promise<{ result: CliResult; body: FailoverCandidatesJson }> => {
    const result = await cli(['failover', '--dry-run', '-f', 'json', ...args], via);
    assert.ok(result.stdout.trim().startsWith('{'), `json on stdout: ${result.stdout}\n${result.stderr}`);
    return { result, body: JSON.parse(result.stdout) as FailoverCandidatesJson };
  };
  const verdictOf = (body: FailoverCandidatesJson, name: string) => body.members.find((m) => m.name === name);
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // The process is gone (its server or agent was killed meanwhile): nothing to resume.
    }
  };

  before(async () => {
    cluster = await TestCluster.create({ size: 3 });
    cluster.startAll();
    leader = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    [lagging, healthy] = cluster.nodes.map((n) => n.name).filter((n) => n !== leader) as [string, string];
  });

  after(async () => {
    for (const pid of stopped) signal(pid, 'SIGCONT');
    await cluster?.destroy();
  });

  it('says on a healthy cluster that a replica would take over if the leader failed, and excludes the leader', async () => {
    // Both replicas report streaming before their positions are compared.
    for (const r of [lagging, healthy]) {
      await waitUntil(async () => (await memberStatus(cluster.node(r)))?.replication_state === 'streaming', { timeoutMs: LIVENESS_MS, what: `${r} streaming` });
    }
    const { result, body } = await dryRun();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(body.scenario, 'leader-lost');
    assert.equal(body.leader, leader);
    assert.equal(verdictOf(body, leader)?.code, 'leader');
    assert.ok(body.racers.length > 0 && body.racers.every((r) => r !== leader), JSON.stringify(body));
    const pretty = await cli(['failover', '--dry-run']);
    assert.equal(pretty.code, 0, pretty.stderr);
    assert.match(pretty.stdout, new RegExp(`Dry run \\(nothing changed\\): if the leader ${leader} failed now, `));
    assert.match(pretty.stdout, /\| Member +\| Role +\| State +\| LSN +\| Lag in MB \|/);
  });

  it('names a replica that lags more than maximum_lag_on_failover, with its lag in bytes, and the other as the winner', async () => {
    const [row] = await sql<{ pid: number }>(cluster.node(lagging), 'SELECT pid FROM pg_stat_wal_receiver');
    assert.ok(row, `${lagging} has a WAL receiver`);
    stopped.push(row.pid);
    process.kill(row.pid, 'SIGSTOP');
    await sql(cluster.node(leader), "CREATE TABLE bulk AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 30000) g");
    // The race measures lag against the position the leader publishes each cycle: wait until the explanation shows it.
    const body = await waitUntil(
      async () => {
        const { body: b } = await dryRun();
        return verdictOf(b, lagging)?.code === 'lag' && b.winner === healthy ? b : null;
      },
      { timeoutMs: LIVENESS_MS, what: `the dry run to show ${lagging} lagging and ${healthy} winning` },
    );
    const m = verdictOf(body, lagging)!;
    assert.ok(m.lag !== null && m.lag > 1048576, JSON.stringify(m));
    assert.equal(m.reason, `lag ${m.lag} bytes exceeds maximum_lag_on_failover 1048576`);
    const pretty = await cli(['failover', '--dry-run']);
    assert.match(pretty.stdout, new RegExp(`if the leader ${leader} failed now, ${healthy} would take the leader key`));
    assert.match(pretty.stdout, new RegExp(`\\| ${lagging} .*\\| lag +\\| lag \\d+ bytes exceeds maximum_lag_on_failover 1048576`));
    // A failover to the lagging one: the leader's own check says no, and the command exits 1.
    const toLagging = await dryRun(['--candidate', lagging]);
    assert.equal(toLagging.result.code, 1);
    assert.equal(toLagging.body.scenario, 'handover');
    assert.equal(verdictOf(toLagging.body, lagging)?.code, 'lag');
  });

  it('refuses a switchover to the lagging replica with 412 and one line per member, which the CLI prints', async () => {
    const res = await fetch(`${url(leader)}/switchover`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ leader, candidate: lagging }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    assert.equal(res.status, 412, text);
    const [first, ...detail] = text.trim().split('\n');
    assert.match(first!, new RegExp(`^switchover is not possible: member ${lagging} exceeds maximum replication lag \\(\\d+ bytes behind`));
    assert.ok(detail.some((l) => new RegExp(`^${lagging}: lag \\d+ bytes exceeds maximum_lag_on_failover 1048576$`).test(l)), text);
    const refused = await cli(['switchover', '--candidate', lagging, '--force']);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, new RegExp(`switchover failed: switchover is not possible: member ${lagging} exceeds maximum replication lag .*\\(HTTP 412 from [^)]+\\)\\n  ${lagging}: lag \\d+ bytes`));
    assert.deepEqual(await cluster.primaries(), [leader], 'nothing changed');
  });

  it('names a member whose agent does not answer as unreachable', async () => {
    // Freezing an agent freezes its Raft member too: freeze a replica that is not the Raft leader,
    // or the store's election (ttl 6 here) could cost the leader its key — not what is tested here.
    const raft = await runCli(['raft', 'status', '-c', `${cluster.node(leader).host}:${cluster.node(leader).raftPort}`, '--json']);
    assert.equal(raft.code, 0, raft.stderr);
    const raftLeader = (JSON.parse(raft.stdout) as { leader: string | null }).leader;
    const frozen = [healthy, lagging].find((n) => `${cluster.node(n).host}:${cluster.node(n).raftPort}` !== raftLeader)!;
    const pid = cluster.agents.get(frozen)!.child.pid!;
    stopped.push(pid);
    process.kill(pid, 'SIGSTOP');
    try {
      const { result, body } = await dryRun();
      assert.equal(verdictOf(body, frozen)?.code, 'unreachable', JSON.stringify(body));
      assert.equal(verdictOf(body, frozen)?.reason, 'not reachable');
      if (frozen === healthy) {
        assert.equal(body.winner, null, JSON.stringify(body));
        assert.equal(result.code, 1, 'exit 1: no member would take over');
      } else {
        assert.equal(body.winner, healthy, JSON.stringify(body));
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.deepEqual(await cluster.primaries(), [leader], `no failover\n${logs()}`);
  });

  it('says every member is held back by maintenance mode while paused', async () => {
    assert.equal((await cli(['pause', '--wait'])).code, 0);
    try {
      const body = await waitUntil(
        async () => {
          const { body: b } = await dryRun();
          return b.pause ? b : null;
        },
        { timeoutMs: LIVENESS_MS, what: 'the dry run to see the pause' },
      );
      assert.equal(verdictOf(body, healthy)?.code, 'paused', `${JSON.stringify(body)}\n${logs()}`);
      assert.equal(body.winner, null);
    } finally {
      assert.equal((await cli(['resume', '--wait'])).code, 0);
    }
    assert.deepEqual(await cluster.primaries(), [leader], `no failover\n${logs()}`);
  });

  it('when the leader dies, the member the dry run named takes over, and the log says why the other did not', async () => {
    const { body } = await waitUntil(
      async () => {
        const d = await dryRun();
        return d.body.winner === healthy && !d.body.pause ? d : null;
      },
      { timeoutMs: LIVENESS_MS, what: `the dry run to name ${healthy} again after resume` },
    ).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    assert.equal(body.winner, healthy);
    await cluster.killHard(leader);
    const survivors = [lagging, healthy];
    await waitUntil(async () => (await cluster.primaries(survivors)).length === 1, { timeoutMs: HEALTHY_WITHIN_MS, what: 'a new primary' });
    assert.deepEqual(await cluster.primaries(survivors), [healthy], logs());
    // The lagging member either raced and said why it stayed out, or saw the new leader first.
    const line = /following a different leader because i am not the healthiest node(.*)/.exec(cluster.output(lagging))?.[1];
    if (line !== undefined) assert.match(line, /^ \((lag \d+ bytes exceeds maximum_lag_on_failover 1048576|\S+ is \d+ bytes ahead)\)/, logs());
    else assert.match(cluster.output(lagging), new RegExp(`following a leader \\(${healthy}\\)`), logs());
  });
});
