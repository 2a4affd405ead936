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
import { BIN, BOOTSTRAPPED_WITHIN_MS, FAST_TIMING, REPO_ROOT, sql, TestCluster } from '../helpers/cluster.js';
import { LIVENESS_MS, sleep, SUITE_MS, timerBoundMs, waitUntil } from '../helpers/wait.js';

const { ttl, loop_wait: loopWait } = FAST_TIMING;

describe('hactl agent: a three-member cluster on a three-member etcd', { timeout: SUITE_MS }, () => {
  let etcd: EtcdCluster;
  let cluster: TestCluster;
  let leader: string;
  let nextId = 1;
  const timings: Record<string, number> = {};

  const names = () => cluster.nodes.map((n) => n.name);
  const others = (name: string) => names().filter((n) => n !== name);
  const logs = (lines = 30) => cluster.nodes.map((n) => `--- ${n.name}\n${cluster.output(n.name).split('\n').slice(-lines).join('\n')}`).join('\n');

  /** An INSERT on `name` that must be accepted; then every member in `readers` has it within the wait. */
  async function writeAndReplicate(name: string, readers: string[]): Promise<void> {
    const id = nextId++;
    await sql(cluster.node(name), 'INSERT INTO marker VALUES ($1)', [id]);
    for (const reader of readers) {
      await waitUntil(async () => (await sql(cluster.node(reader), 'SELECT 1 FROM marker WHERE id = $1', [id])).length === 1, {
        timeoutMs: LIVENESS_MS,
        what: `row ${id} on ${reader}`,
      });
    }
  }

  /** A change of leader from `was` to `now` is one the product explains: `was` was fenced or demoted itself. */
  function assertStepDown(was: string, now: string, context: string): void {
    if (now === was) return;
    assert.match(cluster.history(was), /demoted by the fence|demoting self/, `${was} ${context}, then ${now} leads with no step-down of ${was} logged\n${logs(80)}`);
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
    leader = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    timings.bootstrapMs = Date.now() - t0;
    await sql(cluster.node(leader), 'CREATE TABLE marker (id int PRIMARY KEY)');
    await sql(cluster.node(leader), 'CREATE TABLE probe (id serial PRIMARY KEY)');
    await writeAndReplicate(leader, others(leader));
    for (const name of names()) assert.match(cluster.output(name), /INFO: etcd3: using the etcd cluster as the cluster store/);
    await cluster.waitForLog(leader, /INFO: no action\. I am \(node\d\), the leader with the lock/);
    for (const name of others(leader)) {
      // The replica streams before its agent's next cycle logs that it follows: wait for the line.
      await cluster.waitForLog(name, new RegExp(`INFO: no action\\. I am \\(${name}\\), a secondary, and following a leader \\(${leader}\\)`));
    }
  });

  it('promotes a replica after kill -9 of the leader\'s agent and postmaster; the other follows; the old one rejoins', async () => {
    const old = leader;
    const t0 = Date.now();
    await cluster.killHard(old);
    const promoted = await waitUntil(async () => (await cluster.primaries(others(old)))[0], { timeoutMs: LIVENESS_MS, intervalMs: 100, what: 'a new primary' });
    timings.failoverMs = Date.now() - t0;
    // About ttl + loop_wait (bench/ measures it); the bound only tells that from waiting on something else.
    assert.ok(timings.failoverMs < timerBoundMs((ttl + loopWait) * 1000), `failover took ${timings.failoverMs} ms\n${logs()}`);
    leader = await cluster.waitForHealthy(others(old)).catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    // Usually the member first seen writable; on a starved machine it can stall past its ttl 6 while
    // promoting, be stopped by its own fence and leave the key to the other (seen in a suite run).
    assertStepDown(promoted, leader, 'was writable first');
    assert.match(cluster.output(leader), /INFO: promoted self to leader by acquiring session lock/);
    await writeAndReplicate(leader, others(old));

    cluster.startAgent(old);
    const rejoined = await cluster.waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    // The same stall can come a few seconds later, while the old leader rejoins (seen in CI: the new
    // leader's agent renewed 6 s after its acquire, its fence killed PostgreSQL, the third member took over).
    assertStepDown(leader, rejoined, `led while ${old} rejoined`);
    leader = rejoined;
    await writeAndReplicate(leader, others(leader));
  });

  it('keeps its leader while one etcd member (etcd\'s own leader) is down: no demotion, writes go on', async () => {
    leader = await cluster.waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
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
    leader = await cluster.waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
    const old = leader;
    const mark = cluster.output(old).length;
    await Promise.all([etcd.kill(0), etcd.kill(1)]);
    // Never a writable primary without a valid lease: with two of three members dead (their exit
    // awaited) no renewal can succeed after t0, so the lease ends before t0 + ttl. Asserted as an
    // order — no write *sent* after that end was accepted — not as how soon the test noticed the
    // refusal (a loaded machine delays the probes, not the demotion).
    const t0 = Date.now();
    const leaseEnd = t0 + ttl * 1000;
    let lastAcceptedSentAt: number | null = null;
    await waitUntil(
      async () => {
        const sentAt = Date.now();
        if (!(await acceptsWrites(old))) return true;
        lastAcceptedSentAt = sentAt;
        return false;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 50, what: `${old} to refuse writes` },
    );
    timings.quorumLossDemoteMs = Date.now() - t0;
    // No write accepted at all is the safest answer (late was taken as 0 here once, and failed).
    const late = lastAcceptedSentAt === null ? -Infinity : lastAcceptedSentAt - leaseEnd;
    assert.ok(late < 0, `${old} accepted a write sent ${late} ms after its lease ended (etcd lost its quorum ${ttl} s before)\n${logs()}`);
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
    leader = await cluster.waitForHealthy().catch((err: Error) => assert.fail(`${err.message}\n${logs()}`));
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
