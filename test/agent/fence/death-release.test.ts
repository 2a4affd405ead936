// The fence's release of the leader key (issue 17) with a real PostgreSQL and a real Raft group (three
// in-process nodes on 127.0.0.1; the "agent" is a stub process that arms a fence with the claim its
// renewal left and is then killed):
// - agent and postmaster killed: the fence sees no process in the data directory and releases at once;
// - agent killed, PostgreSQL alive (fence.on_agent_death: wait): the key stays while PostgreSQL runs,
//   and is released right after the kill at the deadline;
// - fence.on_agent_death: kill: PostgreSQL killed at once, the key released;
// - a restarted agent renewed before the release (systemd): the release deletes nothing;
// - an agent still connected but not renewing: the kill at the deadline releases too;
// - after a reboot, a stale pid file naming another member's fence does not make the agent retire it.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { FenceClient } from '../../../src/agent/fence/client.js';
import { holderNowMs } from '../../../src/agent/fence/holder-clock.js';
import { isAlive, observeDataDir, nothingRuns } from '../../../src/agent/fence/data-dir-processes.js';
import { clusterKeys, RaftDcs, type LeaderRelease } from '../../../src/dcs/index.js';
import { RaftNode, type Logger } from '../../../src/raft/index.js';
import { REPO_ROOT } from '../../helpers/cluster.js';
import { freePorts } from '../../helpers/net.js';
import { cleanupPostgres, startPrimary, type TestServer } from '../../helpers/postgres.js';
import { ProcessRegistry } from '../../helpers/process.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../../helpers/wait.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const LEADER_KEY = clusterKeys('/service', 'pg').leader;
const registry = new ProcessRegistry();
const clients: FenceClient[] = [];
let raft: { nodes: RaftNode[]; dir: string } | null = null;

after(async () => {
  for (const c of clients) await c.stop().catch(() => {});
  await registry.killAll();
  registry.dispose();
  await cleanupPostgres();
  if (raft) {
    await Promise.all(raft.nodes.map((n) => n.stop().catch(() => {})));
    await rm(raft.dir, { recursive: true, force: true });
  }
});

async function raftGroup(): Promise<RaftNode[]> {
  if (raft) return raft.nodes;
  const addrs = (await freePorts(3)).map((p) => `127.0.0.1:${p}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hactl-death-'));
  const nodes = addrs.map((addr, i) => new RaftNode({ selfAddr: addr, partnerAddrs: addrs, dataDir: path.join(dir, `n${i}`), allowUnauthenticated: true, logger: silent, tickMs: 10, heartbeatMs: 30, electionTimeoutMinMs: 150, electionTimeoutMaxMs: 300 }));
  raft = { nodes, dir };
  await Promise.all(nodes.map((n) => n.start()));
  await waitUntil(() => nodes.find((n) => n.isLeader), { timeoutMs: LIVENESS_MS, what: 'a Raft leader' });
  return nodes;
}

/** A fresh leader key for member pg1 (the previous test's is deleted first) and the claim its write leaves. */
async function acquire(): Promise<{ dcs: RaftDcs; claim: LeaderRelease; node: RaftNode }> {
  const nodes = await raftGroup();
  const node = nodes[0]!;
  const dcs = new RaftDcs(node, { memberName: 'pg1', scope: 'pg', namespace: '/service', retryTimeoutMs: 3000 });
  await node.write({ op: 'delete', key: LEADER_KEY });
  assert.notEqual(await dcs.attemptToAcquireLeader(60_000), null);
  return { dcs, claim: dcs.leaderRelease()!, node };
}

const keyOf = async (node: RaftNode) => node.get(LEADER_KEY);

function postmasterOf(server: TestServer): number {
  return Number(readFileSync(path.join(server.options.data_dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** Starts the agent stub (fixtures/agent-stub.ts) with a fence armed `deadlineMs` ahead; its record file and fence pid. */
async function stubAgent(server: TestServer, deadlineMs: number, claim: LeaderRelease, onAgentDeath: 'wait' | 'kill' = 'wait') {
  const recordFile = path.join(server.base, 'fenced.json');
  const stub = registry.spawn('agent-stub', process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/agent/fence/fixtures/agent-stub.ts'), recordFile, server.options.data_dir, String(deadlineMs), JSON.stringify(claim), onAgentDeath], { cwd: REPO_ROOT });
  const first = await new Promise<string>((resolve) => readline.createInterface({ input: stub.child.stdout! }).once('line', resolve));
  const { fencePid } = JSON.parse(first) as { fencePid: number };
  return { stub, fencePid, recordFile, fenceLog: () => (existsSync(`${recordFile}.log`) ? readFileSync(`${recordFile}.log`, 'utf8') : '') };
}

describe('a certain death gives the leader key up at once (issue 17)', { timeout: SUITE_MS }, () => {
  it('kill -9 of the agent and the postmaster: the fence releases the key at once, long before the deadline', async (t) => {
    const server = await startPrimary();
    const { claim, node } = await acquire();
    const deadlineMs = 60_000;
    const { stub, fenceLog } = await stubAgent(server, deadlineMs, claim);
    const pm = postmasterOf(server);
    const t0 = performance.now();
    stub.signal('SIGKILL');
    process.kill(pm, 'SIGKILL');
    await stub.exited;
    await waitUntil(async () => (await keyOf(node)) === null, { timeoutMs: LIVENESS_MS, intervalMs: 20, what: `the leader key to be released (fence log: ${fenceLog()})` });
    const tookMs = performance.now() - t0;
    t.diagnostic(`released ${tookMs.toFixed(0)} ms after the kill`);
    assert.ok(tookMs < deadlineMs / 2, 'released long before the deadline');
    assert.ok(nothingRuns(observeDataDir(server.options.data_dir)), 'nothing of PostgreSQL remains');
    assert.match(fenceLog(), /the agent and PostgreSQL are both dead/);
    // The fence logs the release once the store's answer is back, a moment after the key is gone.
    await waitUntil(() => /released the leader key/.test(fenceLog()), { timeoutMs: LIVENESS_MS, what: 'the release logged' });
    assert.match(fenceLog(), /CRITICAL: fence\[\d+\]: released the leader key \/service\/pg\/leader held by pg1 at version \d+ through 127\.0\.0\.1:\d+/);
  });

  it('kill -9 of the agent alone (on_agent_death: wait): the key stays while PostgreSQL runs, and goes right after the kill at the deadline', async () => {
    const server = await startPrimary();
    const { claim, node } = await acquire();
    const deadlineMs = 4000;
    const armedAt = holderNowMs();
    const { stub, fenceLog } = await stubAgent(server, deadlineMs, claim);
    const pm = postmasterOf(server);
    stub.signal('SIGKILL');
    await stub.exited;
    // Until the deadline: PostgreSQL is alive, so the key must stay (checked as long as the deadline is ahead).
    while (holderNowMs() < armedAt + deadlineMs - 500) {
      assert.ok(isAlive(pm), 'PostgreSQL left running before the deadline');
      assert.equal((await keyOf(node))?.version, claim.version, 'the key stays while PostgreSQL runs');
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitUntil(async () => !isAlive(pm) && (await keyOf(node)) === null, { timeoutMs: LIVENESS_MS, intervalMs: 20, what: `the kill at the deadline and the release (fence log: ${fenceLog()})` });
    assert.match(fenceLog(), /killed PostgreSQL .* after the deadline: the leader lease deadline passed after the agent died/);
    // Logged once the store's answer is back, a moment after the key is gone.
    await waitUntil(() => /released the leader key .* after the kill/.test(fenceLog()), { timeoutMs: LIVENESS_MS, what: `the release logged (fence log: ${fenceLog()})` });
  });

  it('fence.on_agent_death: kill — PostgreSQL is killed at once when the agent dies, and the key released', async () => {
    const server = await startPrimary();
    const { claim, node } = await acquire();
    const { stub, fenceLog } = await stubAgent(server, 60_000, claim, 'kill');
    const pm = postmasterOf(server);
    stub.signal('SIGKILL');
    await stub.exited;
    await waitUntil(async () => !isAlive(pm) && (await keyOf(node)) === null, { timeoutMs: LIVENESS_MS, intervalMs: 20, what: `the kill and the release (fence log: ${fenceLog()})` });
    assert.match(fenceLog(), /killed PostgreSQL .* at once, [\d.]+ ms before the deadline: the agent died and fence.on_agent_death is kill/);
  });

  it('a restarted agent that renewed before the release keeps its key: the stale claim deletes nothing', async () => {
    const server = await startPrimary();
    const { claim, node } = await acquire();
    const { stub, fenceLog } = await stubAgent(server, 60_000, claim);
    // systemd restarted the agent, which renewed the key (new version) before the fence saw the death.
    const restarted = new RaftDcs(node, { memberName: 'pg1', scope: 'pg', namespace: '/service', retryTimeoutMs: 3000 });
    assert.notEqual(await restarted.updateLeader(60_000, null), null);
    const renewed = (await keyOf(node))!.version;
    stub.signal('SIGKILL');
    process.kill(postmasterOf(server), 'SIGKILL');
    await stub.exited;
    await waitUntil(() => /did not release the leader key/.exec(fenceLog()), { timeoutMs: LIVENESS_MS, intervalMs: 20, what: `the fence to give up its stale claim (fence log: ${fenceLog()})` });
    assert.equal((await keyOf(node))?.version, renewed, 'the renewed key is untouched');
  });

  it('an agent still connected but not renewing: the kill at the deadline releases the key too', async () => {
    const server = await startPrimary();
    const { claim, node } = await acquire();
    const recordFile = path.join(server.base, 'fenced.json');
    const client = new FenceClient({
      settings: { mode: 'on', safetyMarginMs: 0, recordFile, logFile: `${recordFile}.log`, pidFile: `${recordFile}.pid`, trippedWatchMs: 1000 },
      logger: { info() {}, warn() {}, error() {} },
      forwardLine: () => {},
    });
    clients.push(client);
    await client.start();
    await client.arm(holderNowMs() + 1000, server.options.data_dir, 'test', claim);
    await waitUntil(async () => (await keyOf(node)) === null, { timeoutMs: LIVENESS_MS, intervalMs: 20, what: 'the release after the kill at the deadline' });
    assert.ok(existsSync(recordFile), 'the kill left its record');
  });

  it('a stale pid file (after a reboot) naming another member\'s fence is not retired; our own orphan is', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hactl-orphan-'));
    try {
      const pidFile = path.join(dir, 'fence.pid');
      const settings = { mode: 'on' as const, safetyMarginMs: 0, recordFile: path.join(dir, 'fenced.json'), logFile: path.join(dir, 'fence.log'), pidFile, trippedWatchMs: 0 };
      // Stand-ins for fence processes: the same command-line shape (entry script, then the JSON configuration).
      const lookalike = (config: object) => registry.spawn('fence-lookalike', process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'fence-process.js', JSON.stringify(config)]);
      const others = lookalike({ pidFile: '/run/hactl/fence/other-member/fence.pid' });
      const ours = lookalike({ pidFile });
      for (const [stale, expectRetired] of [[others, false], [ours, true]] as const) {
        writeFileSync(pidFile, `${stale.pid}\n`, { mode: 0o644 });
        const client = new FenceClient({ settings, logger: { info() {}, warn() {}, error() {} }, forwardLine: () => {} });
        clients.push(client);
        await client.start();
        await client.arm(holderNowMs() + 60_000, dir, 'test');
        if (expectRetired) await waitUntil(() => stale.hasExited, { timeoutMs: LIVENESS_MS, what: 'our own orphaned fence to be retired' });
        else {
          await new Promise((r) => setTimeout(r, 300));
          assert.equal(stale.hasExited, false, "another member's fence was left alone");
        }
        await client.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
