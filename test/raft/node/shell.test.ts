/**
 * The node shell (RaftNode: forwarding, membership, rejoin, expiry, the RPC boundary) on the
 * in-memory transport twin and MemoryStorage, driven by a manual clock: deterministic scenarios
 * that run in milliseconds.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage } from '../../../src/raft/storage/index.js';
import { RECOVERED_VOTE } from '../../../src/raft/storage/voter-file.js';
import { ShellCluster } from './shell-cluster.js';

const A = '10.0.0.1:5010';
const B = '10.0.0.2:5010';
const C = '10.0.0.3:5010';
const D = '10.0.0.4:5010';

let cluster: ShellCluster | null = null;

async function threeNodes(seed = 1): Promise<ShellCluster> {
  const c = new ShellCluster(seed);
  for (const addr of [A, B, C]) await c.start(addr, [A, B, C]);
  await c.until(() => c.leader(), 'a leader');
  return c;
}

describe('RaftNode shell on the in-memory transport', () => {
  // Scoped to this suite: unit files share one process (scripts/unit-shard.mjs), and the timers are mocked.
  afterEach(async () => {
    await cluster?.destroy();
    cluster = null;
  });

  it('forwards writes and linearizable reads from a follower to the leader', async () => {
    cluster = await threeNodes();
    const leader = cluster.leader()!;
    const follower = [A, B, C].find((a) => a !== leader)!;
    const f = cluster.nodes.get(follower)!.node;
    const w = await cluster.run(f.write({ op: 'set', key: '/k', value: 'v1' }));
    assert.equal(w.ok, true);
    const r = await cluster.run(f.get('/k'));
    assert.equal(r?.value, 'v1');
    // The same outcome through the RPC boundary, as a client on the port sees it.
    const reply = await cluster.run(cluster.network.dialerFrom('client')(follower, { password: null, timeoutMs: 1000 }).then((c) => c.request({ kind: 'kv', op: 'read', key: '/k' })));
    assert.deepEqual((reply.entry as { value: string }).value, 'v1');
  });

  it("refuses a client expire at the port and in write(); the lease ends only on the leader's own clock", async () => {
    cluster = await threeNodes(2);
    const leader = cluster.nodes.get(cluster.leader()!)!.node;
    const set = await cluster.run(leader.write({ op: 'set', key: '/leader', value: 'db1', ttlMs: 1_000 }));
    assert.ok(set.ok && set.entry);
    const version = set.entry.version;
    const client = await cluster.network.dialerFrom('attacker')(A, { password: null, timeoutMs: 1000 });
    const forged = await cluster.run(client.request({ kind: 'kv', op: 'write', command: { op: 'expire', key: '/leader', version } }));
    assert.equal(forged.ok, false);
    assert.match(JSON.stringify(forged.error), /bad-request.*expire is proposed by the Raft leader only/);
    await assert.rejects(cluster.run(leader.write({ op: 'expire', key: '/leader', version } as never)), /expire is proposed by the Raft leader only/);
    await cluster.advance(500);
    assert.equal((await cluster.run(leader.get('/leader')))?.value, 'db1', 'still held half-way through its ttl');
    await cluster.until(() => leader.readLocal({ key: '/leader' }) === null, 'the leader to expire the key after its ttl', 3_000);
    assert.ok(cluster.clock >= 1_000);
  });

  it('grows: a new member started with the partners of a running group asks to join and becomes a voter', async () => {
    cluster = await threeNodes(3);
    await cluster.run(cluster.nodes.get(cluster.leader()!)!.node.write({ op: 'set', key: '/before', value: 'x' }));
    const d = await cluster.start(D, [A, B, C]);
    // Its own bootstrap membership lists it already; what counts is the leader's.
    await cluster.until(() => cluster!.nodes.get(cluster!.leader() ?? A)!.node.membership.voters.includes(D), 'the new member to be a voter');
    await cluster.until(() => d.node.readLocal({ key: '/before' }) !== null, 'the new member to hold the data written before it joined');
    assert.match(d.log.join('\n'), /new member: asking to be added/);
    for (const addr of [A, B, C]) await cluster.until(() => cluster!.nodes.get(addr)!.node.membership.voters.length === 4, `${addr} to see four voters`);
  });

  it('recovers a member that lost its log: no vote until the leader demoted, caught up and promoted it', async () => {
    cluster = await threeNodes(4);
    const leaderAddr = cluster.leader()!;
    for (let i = 0; i < 20; i++) await cluster.run(cluster.nodes.get(leaderAddr)!.node.write({ op: 'set', key: `/k${i}`, value: String(i) }));
    const victim = [A, B, C].find((a) => a !== leaderAddr)!;
    const term = cluster.nodes.get(victim)!.node.currentTerm;
    await cluster.stop(victim);
    // What `hactl raft recover` leaves behind: no log, the term kept, the vote of that term lost.
    const storage = new MemoryStorage();
    storage.setHardState({ term, vote: RECOVERED_VOTE, commit: 0 });
    storage.setRecovery({ learnerAt: null });
    await storage.sync();
    const v = await cluster.start(victim, [A, B, C], { storage });
    assert.equal(v.node.recovering, true);
    let votedWhileRecovering = false;
    await cluster.until(() => {
      if (v.node.recovering && v.node.status().raft_term > term && v.node.currentRole !== 'follower' && v.node.currentRole !== 'learner') votedWhileRecovering = true;
      return !v.node.recovering ? true : null;
    }, 'the recovery to complete');
    assert.equal(votedWhileRecovering, false);
    assert.equal(v.node.readLocal({ key: '/k19' }) !== null, true, 'caught up');
    assert.ok(v.node.membership.voters.includes(victim));
    assert.match(v.log.join('\n'), /learner from index \d+/);
  });

  it('does not let a removed member rejoin by itself', async () => {
    cluster = await threeNodes(5);
    await cluster.start(D, [A, B, C]);
    await cluster.until(() => cluster!.nodes.get(cluster!.leader() ?? A)!.node.membership.voters.includes(D), 'd to join');
    const leader = cluster.nodes.get(cluster.leader()!)!.node;
    await cluster.run(leader.removeMember(D));
    const term = leader.currentTerm;
    const joins = () => cluster!.network.requests.filter((r) => r.from === D && r.what === 'admin/join').length;
    const asked = joins();
    assert.ok(asked > 0, 'it did ask while it was new');
    // Its log may end before the change that removed it (the leader stops replicating to it):
    // it still believes it is a voter, campaigns in vain (pre-vote), and never asks to join.
    await cluster.advance(3_000);
    assert.ok(!leader.membership.voters.includes(D) && !leader.membership.learners.includes(D));
    assert.equal(leader.currentTerm, term, 'the removed member did not disrupt the group');
    assert.equal(joins(), asked, 'no join request after its removal');
  });
});
