// Three real `hactl agent` processes on a real 3-member etcd (Debian's etcd-server) instead of the
// embedded Raft — issue 8 end to end, at the fixture timing (ttl 6, loop_wait 1, retry_timeout 2):
// bootstrap, kill -9 failover, an etcd member down is invisible, a lost etcd quorum makes the
// primary demote itself within ttl (and say which endpoints it cannot reach), the cluster elects a
// leader again when the quorum is back, and --validate-config checks the etcd3: section. Needs
// `npm run build` first (the agents run dist/). Scenarios run in order on one cluster to keep it fast.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { EtcdCluster } from '../helpers/etcd.js';
import { BIN, FAST_TIMING, REPO_ROOT, sql, TestCluster } from '../helpers/cluster.js';
import { sleep, waitUntil } from '../helpers/wait.js';

const { ttl, loop_wait: loopWait } = FAST_TIMING;

describe('hactl agent: a three-member cluster on a three-member etcd', { timeout: 240_000 }, () => {
  let etcd: EtcdCluster;
  let cluster: TestCluster;
  let leader: string;
  let nextId = 1;
  const timings: Record<string, number> = {};

  const names = () => cluster.nodes.map((n) => n.name);
  const others = (name: string) => names().filter((n) => n !== name);
  const logs = () => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.output(n.name).split('\n').slice(-30).join('\n')}`).join('\n');

  /** An INSERT on `name` that must be accepted; then every member in `readers` has it within the wait. */
  async function writeAndReplicate(name: string, readers: string[]): Promise<void> {
    const id = nextId++;
    await sql(cluster.node(name), 'INSERT INTO marker VALUES ($1)', [id]);
    for (const reader of readers) {
      await waitUntil(async () => (await sql(cluster.node(reader), 'SELECT 1 FROM marker WHERE id = $1', [id])).length === 1, {
        timeoutMs: 15_000,
        what: `row ${id} on ${reader}`,
      });
    }
  }

  /** Whether `name` accepts a write right now (false: refused, in recovery, or not answering). */
  async function acceptsWrites(name: string): Promise<boolean> {
    try {
      await sql(cluster.node(name), 'INSERT INTO probe VALUES (default)');
      return true;
    } catch {
      return false;
    }
  }

  before(async () => {
    etcd = await EtcdCluster.start({ members: 3 });
    cluster = await TestCluster.create({ size: 3, store: { etcd3: { hosts: etcd.endpoints } } });
  });

  after(async () => {
    if (process.env.HACTL_E2E_TIMINGS) process.stderr.write(`timings: ${JSON.stringify(timings)}\n`);
    await cluster?.destroy();
    await etcd?.stop();
  });

  it('bootstraps one primary and two streaming replicas with the etcd3 store', async () => {
    const t0 = Date.now();
    cluster.startAll();
    leader = await cluster.waitForHealthy(undefined, 90_000).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    timings.bootstrapMs = Date.now() - t0;
    await sql(cluster.node(leader), 'CREATE TABLE marker (id int PRIMARY KEY)');
    await sql(cluster.node(leader), 'CREATE TABLE probe (id serial PRIMARY KEY)');
    await writeAndReplicate(leader, others(leader));
    for (const name of names()) assert.match(cluster.output(name), /INFO: etcd3: using the etcd cluster as the cluster store/);
    assert.match(cluster.output(leader), /INFO: no action\. I am \(node\d\), the leader with the lock/);
    for (const name of others(leader)) {
      assert.match(cluster.output(name), new RegExp(`INFO: no action\\. I am \\(${name}\\), a secondary, and following a leader \\(${leader}\\)`));
    }
  });

  it('promotes a replica after kill -9 of the leader\'s agent and postmaster; the other follows; the old one rejoins', async () => {
    const old = leader;
    const t0 = Date.now();
    await cluster.killHard(old);
    const promoted = await waitUntil(async () => (await cluster.primaries(others(old)))[0], { timeoutMs: 30_000, intervalMs: 100, what: 'a new primary' });
    timings.failoverMs = Date.now() - t0;
    assert.ok(timings.failoverMs < (ttl + loopWait + 4) * 1000, `failover took ${timings.failoverMs} ms\n${logs()}`);
    leader = await cluster.waitForHealthy(others(old), 30_000).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    assert.equal(leader, promoted);
    assert.match(cluster.output(leader), /INFO: promoted self to leader by acquiring session lock/);
    await writeAndReplicate(leader, others(old));

    cluster.startAgent(old);
    assert.equal(await cluster.waitForHealthy(undefined, 60_000).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`)), leader);
    await writeAndReplicate(leader, others(leader));
  });

  it('keeps its leader while one etcd member (etcd\'s own leader) is down: no demotion, writes go on', async () => {
    const down = await etcd.leaderIndex();
    const marks = names().map((n) => cluster.output(n).length);
    await etcd.kill(down);
    // Longer than ttl: a leader key that etcd let expire, or a primary that lost faith in its lease, would show.
    const until = Date.now() + (ttl + 2) * 1000;
    while (Date.now() < until) {
      assert.deepEqual(await cluster.primaries(), [leader], `the primary changed with ${etcd.members[down]!.name} down\n${logs()}`);
      assert.ok(await acceptsWrites(leader), `${leader} refused a write with ${etcd.members[down]!.name} down\n${logs()}`);
      await sleep(250);
    }
    await writeAndReplicate(leader, others(leader));
    names().forEach((n, i) => {
      const since = cluster.output(n).slice(marks[i]);
      assert.doesNotMatch(since, /demot|DCS is not accessible|etcd is not accessible/, `${n} noticed the etcd member being down:\n${since}`);
    });
    await etcd.restart(down);
  });

  it('demotes the primary within ttl when etcd loses its quorum, naming the endpoints it cannot reach', async () => {
    const old = leader;
    const mark = cluster.output(old).length;
    const t0 = Date.now();
    await Promise.all([etcd.kill(0), etcd.kill(1)]);
    // Never a writable primary without a valid lease: the last renewal was sent before t0, so the lease ends before t0 + ttl.
    await waitUntil(async () => !(await acceptsWrites(old)), { timeoutMs: (ttl + 5) * 1000, intervalMs: 50, what: `${old} to refuse writes` });
    timings.quorumLossDemoteMs = Date.now() - t0;
    assert.ok(timings.quorumLossDemoteMs < ttl * 1000, `${old} accepted writes ${timings.quorumLossDemoteMs} ms after etcd lost its quorum\n${logs()}`);
    // …and stays that way: nobody is a writable primary while etcd has no quorum.
    await sleep(2000);
    assert.deepEqual(await cluster.primaries(), [], `a writable primary without etcd\n${logs()}`);
    const since = cluster.output(old).slice(mark);
    assert.match(since, /demoting self because DCS is not accessible and I was a leader/, since);
    const endpoints = etcd.endpoints.map((e) => e.replace(/\./g, '\\.')).join(', ');
    assert.match(since, new RegExp(`etcd is not accessible: ${endpoints}`), since);
  });

  it('elects a leader again when the etcd quorum is back', async () => {
    await Promise.all([etcd.restart(0), etcd.restart(1)]);
    leader = await cluster.waitForHealthy(undefined, 60_000).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    await writeAndReplicate(leader, others(leader));
  });

  it('--validate-config accepts the etcd3: section and refuses Patroni keys it does not implement, with file:line', () => {
    const validate = (file: string) => spawnSync(process.execPath, [BIN, 'agent', '--validate-config', '-i', '-c', file], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
    const node = cluster.nodes[0]!;
    const good = validate(node.configPath);
    assert.equal(good.status, 0, good.stderr);
    const bad = `${node.base}/bad.yml`;
    writeFileSync(bad, readFileSync(node.configPath, 'utf8').replace(/^etcd3:\n/m, 'etcd3:\n  srv: example.com\n'));
    const refused = validate(bad);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /bad\.yml:\d+:\d+: etcd3: srv not supported; list the members in hosts/, refused.stderr);
  });
});
