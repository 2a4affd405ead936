// The DCS on the embedded Raft store: the shared contract on a real 3-node Raft cluster running
// in-process (TCP on 127.0.0.1, data dirs with fsync, short Raft timings), plus the lease and outage
// behaviour only a real cluster has. Nodes and the DCS share performance.now(), so the moment each
// node applies an expiry can be compared with the deadline the holder believed in.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { clusterKeys, DcsError, DcsUnavailable, RaftDcs, startRaftDcs, type MemberData } from '../../src/dcs/index.js';
import { baselineFromEntries, eventWakesWatch, localStateDiffers } from '../../src/dcs/raft-watch.js';
import { RaftNode, type KvEntry, type Logger } from '../../src/raft/index.js';
import { freePorts } from '../helpers/net.js';
import { LIVENESS_MS, sleep, timerBoundMs, waitUntil } from '../helpers/wait.js';
import { runDcsContract } from './contract.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const TIMING = { tickMs: 10, heartbeatMs: 30, electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300 };
const SCOPE = 'pg';
const NAMESPACE = '/service';
const LEADER_KEY = clusterKeys(NAMESPACE, SCOPE).leader;

interface TestCluster {
  nodes: RaftNode[];
  raftLeader(): RaftNode | undefined;
  stop(): Promise<void>;
}

async function startCluster(): Promise<TestCluster> {
  const ports = await freePorts(3);
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const baseDir = await mkdtemp(path.join(os.tmpdir(), 'hactl-dcs-raft-'));
  const nodes = addrs.map(
    (addr, i) => new RaftNode({ selfAddr: addr, partnerAddrs: addrs, dataDir: path.join(baseDir, `n${i}`), allowUnauthenticated: true, logger: silent, ...TIMING }),
  );
  const cluster: TestCluster = {
    nodes,
    raftLeader: () => nodes.find((n) => n.running && n.isLeader),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      await rm(baseDir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await waitUntil(() => cluster.raftLeader(), { timeoutMs: 5_000, what: 'a Raft leader' });
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

function dcsOn(node: RaftNode, memberName: string, retryTimeoutMs = 3_000): RaftDcs {
  return new RaftDcs(node, { memberName, scope: SCOPE, namespace: NAMESPACE, retryTimeoutMs });
}

/** Local monotonic time at which each node applied the expiry of `key`. */
function recordExpiries(nodes: RaftNode[], key: string): Map<string, number> {
  const applied = new Map<string, number>();
  for (const node of nodes) {
    node.watch((e) => {
      if (e.type === 'delete' && e.key === key && e.expired && !applied.has(node.options.selfAddr)) {
        applied.set(node.options.selfAddr, performance.now());
      }
    });
  }
  return applied;
}

runDcsContract('raft (3 in-process nodes)', async () => {
  const cluster = await startCluster();
  const clients: RaftDcs[] = [];
  return {
    // Members spread over the nodes, so most calls are forwarded to the Raft leader.
    client: async (name) => {
      const dcs = new RaftDcs(cluster.nodes[clients.length % cluster.nodes.length], {
        memberName: name,
        scope: 'contract',
        namespace: NAMESPACE,
        retryTimeoutMs: 3_000,
      });
      clients.push(dcs);
      return dcs;
    },
    elapse: (ms) => sleep(ms),
    nowMs: () => performance.now(),
    // The Raft leader proposes an expiry on its next tick (10 ms) after the lease, then commits it.
    expirySlackMs: 200,
    close: async () => {
      await Promise.all(clients.map((c) => c.close()));
      await cluster.stop();
    },
  };
});

describe('raft DCS leases and outages', () => {
  const clusters: TestCluster[] = [];
  after(async () => {
    await Promise.all(clusters.map((c) => c.stop()));
  });
  async function cluster(): Promise<TestCluster> {
    const c = await startCluster();
    clusters.push(c);
    return c;
  }

  it('expires the leader key once its holder stops renewing, and never before the deadline the holder believed in', async () => {
    const c = await cluster();
    const holder = dcsOn(c.nodes[0], 'srv1');
    const other = dcsOn(c.nodes[1], 'srv2');
    const expiredAt = recordExpiries(c.nodes, LEADER_KEY);
    const ttlMs = 1_000;
    const acquired = await holder.attemptToAcquireLeader(ttlMs);
    assert.ok(acquired !== null);
    await sleep(300);
    const deadline = await holder.updateLeader(ttlMs, null);
    assert.ok(deadline !== null && deadline > acquired, 'a renewal moves the believed deadline');
    await waitUntil(() => expiredAt.size === 3, { timeoutMs: 5_000, what: 'every node to apply the expiry' });
    for (const [addr, at] of expiredAt) {
      // Safety: never before the holder's deadline. That it happens at all is the wait above.
      assert.ok(at >= deadline, `${addr} applied the expiry ${(deadline - at).toFixed(1)} ms before the holder's deadline`);
    }
    assert.equal((await other.getCluster()).leader, null);
    assert.equal(await holder.updateLeader(ttlMs, null), null, 'an expired lease cannot be renewed');
    assert.notEqual(await other.attemptToAcquireLeader(ttlMs), null);
  });

  it('releases by compare-and-delete on the exact version it wrote: an old incarnation of a member cannot delete the key its successor took under the same name (issue 17)', async () => {
    const c = await cluster();
    const old = dcsOn(c.nodes[0], 'srv1');
    const expiredAt = recordExpiries(c.nodes, LEADER_KEY);
    assert.notEqual(await old.attemptToAcquireLeader(1_000), null);
    await waitUntil(() => expiredAt.size === 3, { timeoutMs: LIVENESS_MS, what: 'the old incarnation\'s key to expire' });
    // The successor (an agent restarted by systemd) takes the key again under the same name.
    const successor = dcsOn(c.nodes[1], 'srv1');
    assert.notEqual(await successor.attemptToAcquireLeader(30_000), null);
    assert.equal(await old.deleteLeader(), false, 'the stale release compares on the version it wrote');
    assert.equal((await successor.getCluster()).leader?.name, 'srv1', 'the successor keeps its key');
    assert.equal(await successor.deleteLeader(), true, 'the holder of the exact version releases');
    assert.equal((await successor.getCluster()).leader, null);
  });

  it('keeps the lease when the Raft leader stops, and the new Raft leader expires it when what remained runs out', async () => {
    const c = await cluster();
    const first = c.raftLeader()!;
    const [holderNode, watcherNode] = c.nodes.filter((n) => n !== first);
    const holder = dcsOn(holderNode, 'srv1');
    const watcher = dcsOn(watcherNode, 'srv2');
    const expiredAt = recordExpiries([holderNode, watcherNode], LEADER_KEY);
    const ttlMs = 2_000;
    const deadline = await holder.attemptToAcquireLeader(ttlMs);
    assert.ok(deadline !== null);
    await sleep(700);
    const stoppedAt = performance.now();
    await first.stop();
    await waitUntil(() => c.raftLeader(), { timeoutMs: 5_000, what: 'a new Raft leader' });
    assert.equal((await watcher.getCluster()).leader?.name, 'srv1', 'the lease survives the Raft leader change');
    const woke = watcher.watch(ttlMs * 5, { view: await watcher.getCluster() });
    await waitUntil(() => expiredAt.size === 2, { timeoutMs: 5_000, what: 'the surviving nodes to apply the expiry' });
    assert.equal(await woke, 'changed', 'the expiry wakes a watcher');
    for (const [addr, at] of expiredAt) {
      assert.ok(at >= deadline, `${addr} applied the expiry ${(deadline - at).toFixed(1)} ms before the holder's deadline`);
      // A new leader counting a fresh ttl from its election would expire it after stoppedAt + ttl.
      assert.ok(at < stoppedAt + ttlMs, `${addr} expired the key ${(at - deadline).toFixed(0)} ms after the deadline: the new Raft leader granted a fresh lease`);
    }
    assert.notEqual(await watcher.attemptToAcquireLeader(ttlMs), null);
  });

  it('throws DcsUnavailable within retry_timeout when its node is cut off from the majority', async () => {
    const c = await cluster();
    const [node, ...rest] = c.nodes;
    const retryTimeoutMs = 1_000;
    const dcs = dcsOn(node, 'srv1', retryTimeoutMs);
    assert.notEqual(await dcs.attemptToAcquireLeader(10_000), null);
    await Promise.all(rest.map((n) => n.stop()));
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['getCluster', () => dcs.getCluster()],
      ['updateLeader', () => dcs.updateLeader(10_000, 0x3000000n)],
      ['touchMember', () => dcs.touchMember(memberData(), 10_000)],
      ['setConfig', () => dcs.setConfig({ ttl: 30 })],
    ];
    for (const [what, call] of calls) {
      const started = performance.now();
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof DcsUnavailable, `${what}: ${String(err)}`);
        assert.match(err.message, new RegExp(`through Raft node ${node.options.selfAddr.replace(/\./g, '\\.')}`));
        return true;
      });
      const elapsed = performance.now() - started;
      assert.ok(elapsed <= timerBoundMs(retryTimeoutMs), `${what} gave up after ${elapsed.toFixed(0)} ms (retry_timeout ${retryTimeoutMs} ms, ttl 10000 ms)`);
    }
  });

  it('starts its own node from the raft section and stops it on close', async () => {
    const [port] = await freePorts(1);
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hactl-dcs-raft-'));
    try {
      await assert.rejects(startRaftDcs({ partner_addrs: [] }, SCOPE, NAMESPACE, silent, { memberName: 'srv1' }), DcsError);
      const dcs = await startRaftDcs({ self_addr: `127.0.0.1:${port}`, data_dir: dataDir, allow_unauthenticated: true }, SCOPE, NAMESPACE, silent, {
        memberName: 'srv1',
        retryTimeoutMs: 5_000,
      });
      assert.notEqual(await dcs.attemptToAcquireLeader(10_000), null, 'a single member elects itself with the default timings');
      assert.equal((await dcs.getCluster()).leader?.name, 'srv1');
      await dcs.close();
      assert.equal(dcs.node.running, false);
      await assert.rejects(dcs.getCluster(), DcsError);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('raft DCS watch against a lagging local node', () => {
  const k = clusterKeys(NAMESPACE, SCOPE);
  const entry = (key: string, value: string, version: number): KvEntry => ({ key, value, version, createVersion: version, ttlMs: null });
  // The view: srv1 holds the leader key at version 10, a member touched at 14 (read index ≥ 14).
  const baseline = baselineFromEntries(k, [entry(k.leader, 'srv1', 10), entry(k.member('srv1'), '{}', 14)]);

  it('does not wake for writes the view already contains', () => {
    assert.equal(eventWakesWatch(k, { type: 'set', entry: entry(k.leader, 'srv1', 10), prev: null }, baseline), false);
    assert.equal(eventWakesWatch(k, { type: 'delete', key: k.config, prev: entry(k.config, '{}', 7), expired: false }, baseline), false);
    assert.equal(eventWakesWatch(k, { type: 'set', entry: entry(k.leader, 'srv1', 20), prev: entry(k.leader, 'srv1', 10) }, baseline), false, 'renewal');
  });

  it('wakes for a new holder, an expiry of the seen key and a newer config', () => {
    assert.equal(eventWakesWatch(k, { type: 'delete', key: k.leader, prev: entry(k.leader, 'srv1', 10), expired: true }, baseline), true);
    assert.equal(eventWakesWatch(k, { type: 'set', entry: entry(k.leader, 'srv2', 21), prev: null }, baseline), true);
    assert.equal(eventWakesWatch(k, { type: 'set', entry: entry(k.config, '{}', 15), prev: null }, baseline), true);
  });

  it('compares local state only once the node has applied what the view saw', () => {
    const local = (leader: KvEntry | null) => new Map([[k.leader, leader]]);
    assert.equal(localStateDiffers(k, baseline, local(null), 9), false, 'the acquire is not applied here yet');
    assert.equal(localStateDiffers(k, baseline, local(null), 12), true, 'applied, then deleted');
    assert.equal(localStateDiffers(k, baseline, local(entry(k.leader, 'srv1', 16)), 16), false, 'renewed by the same holder');
    assert.equal(localStateDiffers(k, baseline, local(entry(k.leader, 'srv2', 16)), 16), true);
    const noLeader = baselineFromEntries(k, [entry(k.member('srv1'), '{}', 14)]);
    assert.equal(localStateDiffers(k, noLeader, local(entry(k.leader, 'srv1', 10)), 12), false, 'an old copy the view saw expire');
    assert.equal(localStateDiffers(k, noLeader, local(entry(k.leader, 'srv2', 15)), 15), true, 'acquired after the view');
  });
});

function memberData(): MemberData {
  return {
    role: 'replica',
    state: 'running',
    apiUrl: null,
    connUrl: null,
    version: null,
    timeline: null,
    xlogLocation: null,
    receivedLsn: null,
    replayedLsn: null,
    replicationState: null,
    tags: {},
    pendingRestart: false,
  };
}
