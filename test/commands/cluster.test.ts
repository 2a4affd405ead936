// Every operator command end-to-end against a real three-member cluster: `hactl agent` processes
// with PostgreSQL 15 on 127.0.0.1 (test/helpers/cluster.ts), the CLI run as `node bin/run.js` with
// the first member's ha.yml, as an operator would. Scenarios run in order on one cluster.
// Needs `npm run build` first.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../helpers/net.js';
import { BOOTSTRAPPED_WITHIN_MS, inRecovery, memberStatus, sql, TestCluster } from '../helpers/cluster.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../helpers/wait.js';
import { runCli, type CliResult } from './run-cli.js';

describe('operator commands on a real three-member cluster', { timeout: SUITE_MS }, () => {
  let cluster: TestCluster;
  let leader: string;
  let cfg: string[];

  const replicas = () => cluster.nodes.map((n) => n.name).filter((n) => n !== leader);
  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.output(n.name).split('\n').slice(-20).join('\n')}`).join('\n');
  const hactl = async (...args: string[]) => runCli([...args, ...cfg], { timeoutMs: 120_000 });
  /** Parsed `list -f json`. */
  const members = async () => JSON.parse((await hactl('list', '-f', 'json')).stdout) as Record<string, string | number>[];

  before(async () => {
    cluster = await TestCluster.create({ size: 3 });
    cfg = ['-c', cluster.node('node1').configPath];
    cluster.startAll();
    leader = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    // Replicas report `streaming` once their walreceiver is up and the member key is refreshed.
    await waitUntil(async () => (await members()).filter((m) => m.State === 'streaming').length === 2, { timeoutMs: LIVENESS_MS, what: 'two streaming replicas in list' });
  });

  /** Set while the pause test runs: should it fail half-way, after() resumes so the cluster is not left paused (it is destroyed anyway). */
  let pausedByTest = false;

  /**
   * What `pause|resume --wait` promises: exit 0 once every member reports the new state, or, when
   * the patronictl window of loop_wait + 1 s (2 s here) passes first — a loaded machine runs an
   * agent's cycle late — exit 1 naming the members that did not report it yet. Either way every
   * member reports it: at once after a success (so --wait did wait), within LIVENESS_MS otherwise.
   */
  const recognized = async (r: CliResult, action: 'pause' | 'resume', want: boolean): Promise<string> => {
    const states = async () =>
      Promise.all(cluster.nodes.map(async (n) => {
        const status = await memberStatus(n, 10_000);
        return [n.name, status === null ? 'no answer' : status.pause === true] as const;
      }));
    if (r.code === 0) {
      const now = await states();
      assert.deepEqual(now.filter(([, p]) => p !== want), [], `${action} --wait returned before every member reported it\n${logs()}`);
      return `${action} --wait: every member recognized it within the window`;
    }
    assert.equal(r.code, 1, r.stderr);
    const late = /^Error: (\S+(?:, \S+)*) members? did not recognize the (\w+) state after 2 seconds\n$/.exec(r.stderr);
    assert.ok(late && late[2] === action, `unexpected ${action} --wait failure: ${r.stderr}`);
    await waitUntil(async () => (await states()).every(([, p]) => p === want), { timeoutMs: LIVENESS_MS, what: `every member reporting pause=${want}` });
    return `${action} --wait: ${late[1]} late (loaded machine), recognized afterwards`;
  };

  after(async () => {
    // Don't leave a paused cluster behind a failed pause test (nothing would fail over or resume).
    if (pausedByTest && cluster) await hactl('resume').catch(() => undefined);
    await cluster?.destroy();
  });

  /**
   * The leader now, with every replica streaming. With ttl 6 a loaded machine can starve the leader's
   * agent past its lease between two tests: the next test then starts from the new leader (the
   * diagnostic says so) instead of asserting on a stale name.
   */
  const settle = async (t: { diagnostic(m: string): void }) => {
    const now = await cluster.waitForHealthy();
    if (now !== leader) t.diagnostic(`the leader changed from ${leader} to ${now} since the previous test`);
    leader = now;
    await waitUntil(async () => (await members()).filter((m) => m.State === 'streaming').length === 2, { timeoutMs: LIVENESS_MS, what: 'two streaming replicas in list' });
  };

  it('list shows one Leader and two streaming Replicas under the cluster name and system identifier', async (t) => {
    await settle(t);
    const r = await hactl('list');
    assert.equal(r.code, 0, r.stderr);
    const sysid = (await sql<{ id: string }>(cluster.node(leader), 'SELECT system_identifier::text AS id FROM pg_control_system()'))[0]!.id;
    const lines = r.stdout.trimEnd().split('\n');
    // The title overwrites the start of the top border (as patronictl's): what follows it is the
    // border's next character, a junction when the title ends at a column edge (scope names vary in length).
    assert.match(lines[0]!, new RegExp(`^\\+ Cluster: ${cluster.scope} \\(${sysid}\\) [-+]`));
    assert.match(lines[1]!, /^\| Member \| Host\s+\| Role\s+\| State\s+\| TL \| Lag in MB \|$/, `${r.stdout}\n${JSON.stringify(await members())}\n${logs()}`);
    assert.match(r.stdout, new RegExp(`\\| ${leader}  \\| 127\\.0\\.0\\.1:${cluster.node(leader).pgPort} \\| Leader  \\| running `));
    for (const name of replicas()) assert.match(r.stdout, new RegExp(`\\| ${name}  \\| 127\\.0\\.0\\.1:\\d+ \\| Replica \\| streaming \\|  1 \\|         0 \\|`));
    assert.equal(lines.length, 7);
    // Issue 14: the fixture's Raft journal is in <member>.agent, outside the PostgreSQL user's tree.
    for (const n of cluster.nodes) assert.doesNotMatch(cluster.output(n.name), /raft\.data_dir .* is not private to root/);
  });

  it('topology puts the replicas under the leader; dsn names the leader', async (tc) => {
    await settle(tc);
    const t = await hactl('topology');
    assert.equal(t.code, 0, t.stderr);
    const names = t.stdout.split('\n').slice(3, 6).map((l) => l.split('|')[1]!.trim());
    assert.deepEqual(names, [leader, ...replicas().map((n) => `+ ${n}`)]);
    const d = await hactl('dsn');
    assert.equal(d.stdout, `host=127.0.0.1 port=${cluster.node(leader).pgPort}\n`);
  });

  it('still answers when the first agent given is down, and says so', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await runCli(['list', '--api', `${dead},http://127.0.0.1:${cluster.node(leader).apiPort}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `Warning: agent ${dead} unreachable: connection refused\n`);
  });

  it('query runs SQL on the leader, a replica or a named member and prints tsv, json or a table', async () => {
    // -c is the SQL in `query` (patronictl's letter), so the config file goes as --config.
    const query = (...args: string[]) => runCli(['query', '--config', cluster.node('node1').configPath, '-U', 'postgres', ...args], { timeoutMs: 60_000 });
    const onLeader = await query('-c', "SELECT pg_is_in_recovery() AS r, NULL AS n, 'a b' AS t");
    assert.equal(onLeader.code, 0, onLeader.stderr);
    assert.equal(onLeader.stdout, 'r\tn\tt\nf\t\ta b\n');
    const onReplica = await query('-r', 'replica', '-c', 'SELECT pg_is_in_recovery() AS r', '--format', 'json');
    assert.equal(onReplica.code, 0, onReplica.stderr);
    assert.deepEqual(JSON.parse(onReplica.stdout), [{ r: 't' }]);
    const named = replicas()[1]!;
    const file = path.join(cluster.node('node1').base, 'q.sql');
    writeFileSync(file, 'SELECT current_setting(\'port\') AS port, current_database() AS db');
    const fromFile = await query('-m', named, '-f', file, '-d', 'template1', '--format', 'pretty');
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.match(fromFile.stdout, new RegExp(`^\\+-+\\+-+\\+\n\\| port  \\| db +\\|\n\\+-+\\+-+\\+\n\\| ${cluster.node(named).pgPort} \\| template1 \\|\n`));
  });

  it('query reports an SQL error as patronictl\'s row, with the message on stderr and exit 1', async () => {
    const r = await runCli(['query', '--config', cluster.node('node1').configPath, '-U', 'postgres', '-c', 'SELECT * FROM no_such_table'], { timeoutMs: 60_000 });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\tERROR, SQLSTATE: 42P01\n$/);
    assert.equal(r.stderr, 'Error: relation "no_such_table" does not exist\n');
    const bad = await runCli(['query', '--config', cluster.node('node1').configPath, '-m', 'node1', '-r', 'replica', '-c', 'SELECT 1']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'Error: --role and --member are mutually exclusive options\n');
  });

  it('restart --any restarts one replica chosen among those matching', async () => {
    const r = await hactl('restart', '--role', 'replica', '--any', '--force');
    assert.equal(r.code, 0, `${r.stderr}\n${logs()}`);
    const done = r.stdout.split('\n').filter((l) => l.startsWith('Success:'));
    assert.equal(done.length, 1, r.stdout);
    assert.ok(replicas().some((n) => done[0] === `Success: restart on member ${n}`), done[0]);
  });

  it('a scheduled restart is in the member key: list shows it, and it survives a restart of the agent', async () => {
    const target = replicas()[0]!;
    const at = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, '+00:00');
    const r = await hactl('restart', target, '--scheduled', at, '--pg-version', '99.0', '--force');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('Success:')).join('\n'), `Success: restart scheduled on member ${target}`);
    const shown = `${at} if version < 99.0`;
    const scheduledOf = async () => (await hactl('list', '-e', '-f', 'json')).stdout.includes(`"Scheduled restart": "${shown}"`);
    await waitUntil(scheduledOf, { timeoutMs: LIVENESS_MS, what: `list -e to show ${target}'s scheduled restart` });
    // A member key outlives its agent by ttl (as Patroni's): the agent must be back within it. The
    // fixture's ttl of 6 s is shorter than an agent restart on a loaded machine, so Patroni's default 30 s
    // is set for this step (and the fixture's timing put back after it).
    const ttl = await hactl('edit-config', '-s', 'ttl=30', '--force');
    assert.equal(ttl.code, 0, ttl.stderr);
    await cluster.waitForCycles(target, 3);
    const proc = cluster.agents.get(target)!;
    const stoppedAt = Date.now();
    proc.signal('SIGTERM');
    await proc.exited;
    cluster.startAgent(target);
    await cluster.waitForLog(target, /restart scheduled at \S+ restored from the member key/, 60_000).catch((err: Error) =>
      assert.fail(`${err.message}\n(the agent was stopped ${Math.round((Date.now() - stoppedAt) / 1000)} s ago; its member key lives ttl = 30 s)`),
    );
    await cluster.waitForCycles(target, 2);
    assert.ok(await scheduledOf(), `the restored restart is in list -e\n${logs()}`);
    const back = await hactl('edit-config', '-s', 'ttl=6', '--force');
    assert.equal(back.code, 0, back.stderr);
    const f = await hactl('flush', cluster.scope, target, 'restart');
    assert.equal(f.stdout, `Success: flush scheduled restart for member ${target}\n`, f.stderr);
    await waitUntil(async () => !(await scheduledOf()), { timeoutMs: LIVENESS_MS, what: 'the flushed restart to leave list -e' });
    await cluster.waitForHealthy();
  });

  it('switchover --candidate --force moves the primary and shows the new topology', async () => {
    const candidate = replicas()[0]!;
    const r = await hactl('switchover', '--candidate', candidate, '--force');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${logs()}`);
    assert.match(r.stdout, new RegExp(`Successfully switched over to "${candidate}"`));
    const after = r.stdout.split('\n').filter((l) => l.includes('| Leader'));
    assert.match(after[after.length - 1]!, new RegExp(`\\| ${candidate} `));
    leader = candidate;
    // The agent answers once the leader key moved; the promotion itself may finish a moment later.
    await waitUntil(async () => (await inRecovery(cluster.node(candidate))) === false, { timeoutMs: LIVENESS_MS, what: `${candidate} promoted` });
    assert.equal(await cluster.waitForHealthy(), candidate);
  });

  it('history lists the switch to the new timeline', async () => {
    // The new leader writes the history key in its first cycles after the promotion.
    const rows = await waitUntil(async () => {
      const r = await hactl('history', '-f', 'json');
      assert.equal(r.code, 0, r.stderr);
      const parsed = JSON.parse(r.stdout) as Record<string, unknown>[];
      return parsed.some((row) => row['New Leader'] === leader) ? parsed : null;
    }, { timeoutMs: LIVENESS_MS, what: `a history row naming ${leader}` });
    assert.equal(rows[rows.length - 1]!['New Leader'], leader);
    assert.equal(typeof rows[0]!.TL, 'number');
  });

  it('refusals exit 1: a candidate that is the leader (checked by the CLI), a restart the agent declines', async () => {
    const already = await hactl('switchover', '--candidate', leader, '--force');
    assert.equal(already.code, 1);
    assert.equal(already.stderr, `Error: Member ${leader} is already the leader of cluster ${cluster.scope}\n`);
    // The running server is 15.x: "restart only if older than 9.6" is declined by the agent.
    const declined = await hactl('restart', replicas()[0]!, '--pg-version', '9.6', '--force');
    assert.equal(declined.code, 1, declined.stdout);
    assert.match(declined.stderr, /Error: restart failed for member/);
    const noTty = await hactl('switchover');
    assert.equal(noTty.code, 1);
    assert.match(noTty.stderr, /pass --force to switchover without asking/);
  });

  it('pause --wait and resume --wait switch maintenance mode on every member', async (t) => {
    pausedByTest = true;
    const p = await hactl('pause', '--wait');
    assert.match(p.stdout, /^Success: cluster management is paused\n'pause' request sent, waiting until it is recognized by all nodes\n$/);
    t.diagnostic(await recognized(p, 'pause', true));
    assert.match((await hactl('list')).stdout, / Maintenance mode: on\n$/);
    const again = await hactl('pause');
    assert.equal(again.stderr, 'Error: Cluster is already paused\n');
    const r = await hactl('resume', '--wait');
    t.diagnostic(await recognized(r, 'resume', false));
    pausedByTest = false;
    assert.doesNotMatch((await hactl('list')).stdout, /Maintenance mode/);
  });

  it('edit-config --pg --force changes the dynamic configuration; show-config shows it', async () => {
    const r = await hactl('edit-config', '-p', 'work_mem=8MB', '--force');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\+ {4}work_mem: 8MB$/m);
    assert.match(r.stdout, /Configuration changed\n$/);
    // Agents serve /config from their last cluster view: the change shows within a loop_wait.
    const show = await waitUntil(async () => {
      const r = await hactl('show-config');
      return /^ {4}work_mem: 8MB$/m.test(r.stdout) ? r : null;
    }, { timeoutMs: LIVENESS_MS, what: 'work_mem in show-config' });
    assert.match(show.stdout, /^ttl: 6$/m);
  });

  it('edit-config with a misspelt key warns in its output and in the log of the agent that took the change', async () => {
    const r = await hactl('edit-config', '-s', 'maximum_lag_on_failovr=5', '--force');
    assert.equal(r.code, 0, r.stderr);
    const line = 'unknown key maximum_lag_on_failovr; did you mean maximum_lag_on_failover? (ignored)';
    assert.equal(r.stderr, `Warning: ${line}\n`);
    // edit-config sends PATCH /config to the leader's agent first.
    await cluster.waitForLog(leader, new RegExp(`WARNING: PATCH /config: ${line.replace(/[.?()]/g, '\\$&')}`), 30_000);
  });

  it('restart and reload of a replica succeed', async () => {
    const target = replicas()[1]!;
    const r = await hactl('restart', target, '--force');
    assert.equal(r.code, 0, `${r.stderr}\n${logs()}`);
    assert.equal(r.stdout, `Success: restart on member ${target}\n`);
    const rl = await hactl('reload', '--force');
    assert.equal(rl.code, 0, rl.stderr);
    assert.equal(rl.stdout.split('\n').filter((l) => l.startsWith('Reload request received')).length, 3);
  });

  it('reinit --force --wait rebuilds a replica and returns once it streams again', async () => {
    const target = replicas()[0]!;
    await sql(cluster.node(leader), 'CREATE TABLE IF NOT EXISTS reinit_marker AS SELECT 1 AS x');
    const r = await hactl('reinit', target, '--force', '--wait');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${logs()}`);
    assert.match(r.stdout, new RegExp(`^Success: reinitialize for member ${target}\nWaiting for reinitialize to complete on: ${target}\n`));
    assert.match(r.stdout, new RegExp(`Reinitialize is completed on: ${target} \\(`));
    await cluster.waitForHealthy();
    assert.equal((await sql<{ x: number }>(cluster.node(target), 'SELECT x FROM reinit_marker'))[0]!.x, 1);
  });

  it('failover --candidate --force promotes the named replica', async () => {
    const candidate = replicas()[1]!;
    const r = await hactl('failover', '--candidate', candidate, '--force');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${logs()}`);
    assert.match(r.stdout, new RegExp(`Successfully failed over to "${candidate}"`));
    leader = candidate;
    assert.equal(await cluster.waitForHealthy(), candidate);
  });

  it('remove --force wipes the cluster keys through the Raft port', async () => {
    const r = await hactl('remove', cluster.scope, '--force');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Success: removed \\d+ keys of cluster ${cluster.scope} \\(through the Raft node 127\\.0\\.0\\.1:\\d+\\)`));
    assert.match(r.stderr, /agents of this cluster are still running/);
  });
});
