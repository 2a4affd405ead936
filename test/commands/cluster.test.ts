// Every operator command end-to-end against a real three-member cluster: `hactl agent` processes
// with PostgreSQL 15 on 127.0.0.1 (test/helpers/cluster.ts), the CLI run as `node bin/run.js` with
// the first member's ha.yml, as an operator would. Scenarios run in order on one cluster.
// Needs `npm run build` first.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/net.js';
import { inRecovery, sql, TestCluster } from '../helpers/cluster.js';
import { waitUntil } from '../helpers/wait.js';
import { runCli } from './run-cli.js';

describe('operator commands on a real three-member cluster', { timeout: 300_000 }, () => {
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
    leader = await cluster.waitForHealthy(undefined, 90_000).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    // Replicas report `streaming` once their walreceiver is up and the member key is refreshed.
    await waitUntil(async () => (await members()).filter((m) => m.State === 'streaming').length === 2, { timeoutMs: 20_000, what: 'two streaming replicas in list' });
  });

  after(async () => {
    await cluster?.destroy();
  });

  it('list shows one Leader and two streaming Replicas under the cluster name and system identifier', async () => {
    const r = await hactl('list');
    assert.equal(r.code, 0, r.stderr);
    const sysid = (await sql<{ id: string }>(cluster.node(leader), 'SELECT system_identifier::text AS id FROM pg_control_system()'))[0]!.id;
    const lines = r.stdout.trimEnd().split('\n');
    assert.ok(lines[0]!.startsWith(`+ Cluster: ${cluster.scope} (${sysid}) -`), lines[0]);
    assert.match(lines[1]!, /^\| Member \| Host\s+\| Role\s+\| State\s+\| TL \| Lag in MB \|$/);
    assert.match(r.stdout, new RegExp(`\\| ${leader}  \\| 127\\.0\\.0\\.1:${cluster.node(leader).pgPort} \\| Leader  \\| running `));
    for (const name of replicas()) assert.match(r.stdout, new RegExp(`\\| ${name}  \\| 127\\.0\\.0\\.1:\\d+ \\| Replica \\| streaming \\|  1 \\|         0 \\|`));
    assert.equal(lines.length, 7);
  });

  it('topology puts the replicas under the leader; dsn names the leader', async () => {
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

  it('switchover --candidate --force moves the primary and shows the new topology', async () => {
    const candidate = replicas()[0]!;
    const r = await hactl('switchover', '--candidate', candidate, '--force');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${logs()}`);
    assert.match(r.stdout, new RegExp(`Successfully switched over to "${candidate}"`));
    const after = r.stdout.split('\n').filter((l) => l.includes('| Leader'));
    assert.match(after[after.length - 1]!, new RegExp(`\\| ${candidate} `));
    leader = candidate;
    // The agent answers once the leader key moved; the promotion itself may finish a moment later.
    await waitUntil(async () => (await inRecovery(cluster.node(candidate))) === false, { timeoutMs: 30_000, what: `${candidate} promoted` });
    assert.equal(await cluster.waitForHealthy(undefined, 30_000), candidate);
  });

  it('history lists the switch to the new timeline', async () => {
    // The new leader writes the history key in its first cycles after the promotion.
    const rows = await waitUntil(async () => {
      const r = await hactl('history', '-f', 'json');
      assert.equal(r.code, 0, r.stderr);
      const parsed = JSON.parse(r.stdout) as Record<string, unknown>[];
      return parsed.some((row) => row['New Leader'] === leader) ? parsed : null;
    }, { timeoutMs: 15_000, what: `a history row naming ${leader}` });
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

  it('pause --wait and resume --wait switch maintenance mode on every member', async () => {
    const p = await hactl('pause', '--wait');
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /^Success: cluster management is paused\n'pause' request sent, waiting until it is recognized by all nodes\n$/);
    assert.match((await hactl('list')).stdout, / Maintenance mode: on\n$/);
    const again = await hactl('pause');
    assert.equal(again.stderr, 'Error: Cluster is already paused\n');
    const r = await hactl('resume', '--wait');
    assert.equal(r.code, 0, r.stderr);
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
    }, { timeoutMs: 10_000, what: 'work_mem in show-config' });
    assert.match(show.stdout, /^ttl: 6$/m);
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
    await cluster.waitForHealthy(undefined, 30_000);
    assert.equal((await sql<{ x: number }>(cluster.node(target), 'SELECT x FROM reinit_marker'))[0]!.x, 1);
  });

  it('failover --candidate --force promotes the named replica', async () => {
    const candidate = replicas()[1]!;
    const r = await hactl('failover', '--candidate', candidate, '--force');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${logs()}`);
    assert.match(r.stdout, new RegExp(`Successfully failed over to "${candidate}"`));
    leader = candidate;
    assert.equal(await cluster.waitForHealthy(undefined, 30_000), candidate);
  });

  it('remove --force wipes the cluster keys through the Raft port', async () => {
    const r = await hactl('remove', cluster.scope, '--force');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Success: removed \\d+ keys of cluster ${cluster.scope} \\(through the Raft node 127\\.0\\.0\\.1:\\d+\\)`));
    assert.match(r.stderr, /agents of this cluster are still running/);
  });
});
