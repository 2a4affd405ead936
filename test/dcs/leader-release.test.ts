// The fence's release of the leader key (issue 17, src/dcs/leader-release.ts) against real stores: a
// 3-node Raft group in-process (TCP on 127.0.0.1) and a real etcd. The claim a confirmed write leaves
// deletes the key through any reachable member — also when the holder's own node was the Raft leader
// and is gone (an election comes first) — and a claim overtaken by a newer write (a renewal, the next
// incarnation of the same member after a restart, another leader) deletes nothing.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { clusterKeys, RaftDcs } from '../../src/dcs/index.js';
import { startEtcd3Dcs } from '../../src/dcs/etcd3.js';
import { releaseCommand, releaseLeaderKey } from '../../src/dcs/leader-release.js';
import { RaftNode, type Logger } from '../../src/raft/index.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { freePorts } from '../helpers/net.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const TIMING = { tickMs: 10, heartbeatMs: 30, electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300 };
const SCOPE = 'pg';
const NAMESPACE = '/service';
const LEADER_KEY = clusterKeys(NAMESPACE, SCOPE).leader;
const TTL_MS = 30_000;

async function raftGroup(): Promise<{ nodes: RaftNode[]; stop(): Promise<void> }> {
  const addrs = (await freePorts(3)).map((p) => `127.0.0.1:${p}`);
  const baseDir = await mkdtemp(path.join(os.tmpdir(), 'hactl-release-'));
  const nodes = addrs.map((addr, i) => new RaftNode({ selfAddr: addr, partnerAddrs: addrs, dataDir: path.join(baseDir, `n${i}`), allowUnauthenticated: true, logger: silent, ...TIMING }));
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
    await rm(baseDir, { recursive: true, force: true });
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await waitUntil(() => nodes.find((n) => n.isLeader), { timeoutMs: LIVENESS_MS, what: 'a Raft leader' });
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, stop };
}

const dcsOn = (node: RaftNode, name = 'pg1') => new RaftDcs(node, { memberName: name, scope: SCOPE, namespace: NAMESPACE, retryTimeoutMs: 3000 });

describe('leader-key release on the Raft store', () => {
  const groups: { stop(): Promise<void> }[] = [];
  after(async () => {
    for (const g of groups) await g.stop();
  });

  it('a confirmed write leaves an exact claim (version, every member, this node last) and nothing before', async () => {
    const g = await raftGroup();
    groups.push(g);
    const dcs = dcsOn(g.nodes[0]!);
    assert.equal(dcs.leaderRelease(), null, 'no claim before any write');
    assert.notEqual(await dcs.attemptToAcquireLeader(TTL_MS), null);
    const claim = dcs.leaderRelease()!;
    assert.equal(claim.key, LEADER_KEY);
    assert.equal(claim.holder, 'pg1');
    assert.equal(claim.version, (await g.nodes[1]!.get(LEADER_KEY))!.version);
    assert.ok(claim.store.kind === 'raft');
    assert.deepEqual([...claim.store.addrs].sort(), g.nodes.map((n) => n.options.selfAddr).sort());
    assert.equal(claim.store.addrs.at(-1), g.nodes[0]!.options.selfAddr, 'the holder\'s own node is tried last');
    assert.deepEqual(releaseCommand(claim), { op: 'delete', key: LEADER_KEY, ifValue: 'pg1', ifVersion: claim.version });
    assert.throws(() => releaseCommand({ ...claim, version: null }), /exact version/);

    const result = await releaseLeaderKey(claim, { timeoutMs: 5000 });
    assert.equal(result.outcome, 'released', JSON.stringify(result));
    assert.equal(await g.nodes[2]!.get(LEADER_KEY), null);
    // systemd restarted the agent after the release: it cannot resume as leader on the released key.
    assert.equal(await dcsOn(g.nodes[1]!).updateLeader(TTL_MS, null), null, 'a renewal of a released key fails');
    assert.equal(await g.nodes[2]!.get(LEADER_KEY), null);
    const again = await releaseLeaderKey(claim, { timeoutMs: 5000 });
    assert.equal(again.outcome, 'gone', 'a second release finds nothing to delete');
  });

  it("says released for the key it deleted, though the same delete sent through the other members finds it gone (whichever answer comes back first)", async () => {
    const g = await raftGroup();
    groups.push(g);
    const dcs = dcsOn(g.nodes[0]!);
    for (let round = 0; round < 20; round++) {
      assert.notEqual(await dcs.attemptToAcquireLeader(TTL_MS), null);
      const result = await releaseLeaderKey(dcs.leaderRelease()!, { timeoutMs: 5000 });
      assert.equal(result.outcome, 'released', `round ${round}: ${JSON.stringify(result)}`);
      assert.equal(await g.nodes[1]!.get(LEADER_KEY), null);
    }
  });

  it('a claim overtaken by a renewal, by the next incarnation of the member, or by another leader deletes nothing', async () => {
    const g = await raftGroup();
    groups.push(g);
    const first = dcsOn(g.nodes[0]!);
    await first.attemptToAcquireLeader(TTL_MS);
    const stale = first.leaderRelease()!;
    // The same agent renewed since the fence was armed.
    assert.notEqual(await first.updateLeader(TTL_MS, null), null);
    let result = await releaseLeaderKey(stale, { timeoutMs: 5000 });
    assert.equal(result.outcome, 'superseded', JSON.stringify(result));
    // systemd restarted the agent (a new client, the same name) and it renewed before the old fence's release.
    const restarted = dcsOn(g.nodes[1]!);
    assert.notEqual(await restarted.updateLeader(TTL_MS, null), null);
    result = await releaseLeaderKey(first.leaderRelease()!, { timeoutMs: 5000 });
    assert.equal(result.outcome, 'superseded', JSON.stringify(result));
    assert.equal((await g.nodes[2]!.get(LEADER_KEY))?.value, 'pg1', 'the newer write is still there');
    // The key expired and another member took it.
    assert.equal(await restarted.deleteLeader(), true);
    const other = dcsOn(g.nodes[2]!, 'pg2');
    assert.notEqual(await other.attemptToAcquireLeader(TTL_MS), null);
    result = await releaseLeaderKey(restarted.leaderRelease() ?? { ...stale, version: stale.version! + 1 }, { timeoutMs: 5000 });
    assert.ok(result.outcome === 'superseded' && result.holder === 'pg2', JSON.stringify(result));
    assert.equal((await g.nodes[0]!.get(LEADER_KEY))?.value, 'pg2');
  });

  it('goes through the surviving members when the holder\'s own node was the Raft leader and is gone', async () => {
    const g = await raftGroup();
    groups.push(g);
    const holderNode = g.nodes[0]!;
    if (!holderNode.isLeader) await holderNode.transferLeadership(holderNode.options.selfAddr, LIVENESS_MS).catch(() => undefined);
    await waitUntil(() => holderNode.isLeader, { timeoutMs: LIVENESS_MS, what: 'the holder\'s node to lead Raft' });
    const dcs = dcsOn(holderNode);
    await dcs.attemptToAcquireLeader(TTL_MS);
    const claim = dcs.leaderRelease()!;
    await holderNode.stop();
    const started = performance.now();
    const result = await releaseLeaderKey(claim, { timeoutMs: LIVENESS_MS });
    assert.equal(result.outcome, 'released', JSON.stringify(result));
    assert.notEqual((result as { via: string }).via, holderNode.options.selfAddr);
    assert.equal(await g.nodes[1]!.get(LEADER_KEY), null);
    process.stderr.write(`release through a new Raft leader: ${(performance.now() - started).toFixed(0)} ms (election included)\n`);
  });

  it('says unreachable, within its bound, when no member answers', async () => {
    const g = await raftGroup();
    groups.push(g);
    const dcs = dcsOn(g.nodes[0]!);
    await dcs.attemptToAcquireLeader(TTL_MS);
    const claim = dcs.leaderRelease()!;
    await Promise.all(g.nodes.map((n) => n.stop()));
    const started = performance.now();
    const result = await releaseLeaderKey(claim, { timeoutMs: 500 });
    assert.equal(result.outcome, 'unreachable');
    assert.ok(performance.now() - started < LIVENESS_MS, 'bounded');
  });
});

describe('leader-key release on etcd', () => {
  it('deletes the key on the claimed lease; a claim on an older lease or another holder deletes nothing', async () => {
    const cluster = await EtcdCluster.start({ members: 1 });
    try {
      const section = { hosts: cluster.endpoints };
      const first = await startEtcd3Dcs(section, SCOPE, NAMESPACE, silent, { memberName: 'pg1', retryTimeoutMs: 3000 });
      const restarted = await startEtcd3Dcs(section, SCOPE, NAMESPACE, silent, { memberName: 'pg1', retryTimeoutMs: 3000 });
      const other = await startEtcd3Dcs(section, SCOPE, NAMESPACE, silent, { memberName: 'pg2', retryTimeoutMs: 3000 });
      try {
        assert.notEqual(await first.attemptToAcquireLeader(TTL_MS), null);
        const claim = first.leaderRelease()!;
        assert.equal(claim.version, null);
        assert.ok(claim.lease);
        // The next incarnation renews: a new lease, so the old fence's claim no longer matches.
        assert.notEqual(await restarted.updateLeader(TTL_MS, null), null);
        let result = await releaseLeaderKey(claim, { timeoutMs: 5000 });
        assert.equal(result.outcome, 'superseded', JSON.stringify(result));
        // The current claim deletes it.
        result = await releaseLeaderKey(restarted.leaderRelease()!, { timeoutMs: 5000 });
        assert.equal(result.outcome, 'released', JSON.stringify(result));
        assert.equal((await other.getCluster()).leader, null);
        // Another member took it: an old claim of pg1 leaves it alone.
        assert.notEqual(await other.attemptToAcquireLeader(TTL_MS), null);
        result = await releaseLeaderKey(claim, { timeoutMs: 5000 });
        assert.ok(result.outcome === 'superseded' && result.holder === 'pg2', JSON.stringify(result));
        assert.equal((await first.getCluster()).leader?.name, 'pg2');
      } finally {
        await Promise.all([first.close(), restarted.close(), other.close()]);
      }
    } finally {
      await cluster.stop();
    }
  });
});
