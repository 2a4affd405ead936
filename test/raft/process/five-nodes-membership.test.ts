// Real processes: five members elect and replicate; a sixth is added and removed at run time.
// Needs `npm run build` first (npm test does it).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCluster } from './cluster.js';
import { freePort } from '../../helpers/net.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../../helpers/wait.js';

describe('a five-member Raft cluster of real processes', { timeout: SUITE_MS }, () => {
  let cluster: RaftCluster;

  before(async () => {
    cluster = await RaftCluster.start({ size: 5, password: 'five-node secret' });
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('elects a leader and replicates to all five', async () => {
    const leader = await cluster.waitForLeader();
    for (let i = 0; i < 20; i++) assert.equal((await cluster.write(cluster.addrs[i % 5]!, { op: 'set', key: `/k/${i}`, value: 'x' })).ok, true);
    for (const addr of cluster.addrs) {
      await waitUntil(async () => (await cluster.status(addr))?.keys === 20, { what: `${addr} to hold 20 keys (leader ${leader})`, timeoutMs: LIVENESS_MS });
    }
  });

  it('keeps a quorum and a leader after kill -9 of the leader and one follower', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.addrs.find((a) => a !== leader)!;
    await cluster.kill(follower);
    await cluster.kill(leader);
    const survivors = cluster.addrs.filter((a) => a !== leader && a !== follower);
    const next = await cluster.waitForLeader({ among: survivors, timeoutMs: LIVENESS_MS });
    assert.equal((await cluster.write(next, { op: 'set', key: '/after-kill', value: 'y' })).ok, true);
    cluster.startNode(leader, cluster.addrs);
    cluster.startNode(follower, cluster.addrs);
    await Promise.all([cluster.waitListening(leader), cluster.waitListening(follower)]);
    await waitUntil(async () => (await cluster.status(leader))?.keys === 21 && (await cluster.status(follower))?.keys === 21, { what: 'restarted members to catch up', timeoutMs: LIVENESS_MS });
  });

  it('adds a new member (learner catch-up, then voter) and removes it again', async () => {
    const newcomer = `127.0.0.1:${await freePort()}`;
    // The newcomer starts knowing the cluster; it becomes a member only through `add`.
    cluster.startNode(newcomer, [...cluster.addrs, newcomer]);
    await cluster.waitListening(newcomer);
    const admin = await cluster.admin(cluster.addrs[2]!);
    try {
      const added = await admin.add(newcomer, 20_000);
      assert.equal(added.message, `SUCCESS ADD ${newcomer}`);
      assert.ok(added.voters.includes(newcomer));
      await waitUntil(async () => (await cluster.status(newcomer))?.keys === 21, { what: 'the new member to receive the data', timeoutMs: LIVENESS_MS });
      const members = await admin.members();
      assert.equal(members.filter((m) => m.role === 'voter').length, 6);
      const removed = await admin.remove(newcomer, 20_000);
      assert.equal(removed.message, `SUCCESS REMOVE ${newcomer}`);
      assert.ok(!removed.voters.includes(newcomer));
      assert.equal((await admin.members()).length, 5);
      // Removing a non-member is refused with a reason.
      await assert.rejects(admin.remove('127.0.0.1:1'), /not a member/);
    } finally {
      admin.close();
    }
    assert.equal((await cluster.write(cluster.addrs[0]!, { op: 'set', key: '/after-remove', value: 'z' })).ok, true);
  });

  it('transfers leadership on request', async (t) => {
    const leader = await cluster.waitForLeader();
    const target = cluster.addrs.find((a) => a !== leader && !cluster.proc(a).hasExited)!;
    const admin = await cluster.admin(leader);
    try {
      const r = await admin.transfer(target);
      assert.equal(r.to, target);
      // How fast is bench/'s business (bench/raft); here: it answered, naming the target, who then leads.
      t.diagnostic(`transfer took ${r.elapsedMs} ms`);
    } finally {
      admin.close();
    }
    assert.equal(await cluster.waitForLeader(), target);
  });

  it('refuses a wrong password with a clear error, from the CLI too', async () => {
    const { execFile } = await import('node:child_process');
    const { BIN } = await import('./cluster.js');
    const { RaftAdminClient } = await import('../../../src/raft/admin/client.js');
    await assert.rejects(RaftAdminClient.connect(cluster.addrs[0]!, { password: 'wrong', timeoutMs: 3_000 }), /authentication failed/);
    await assert.rejects(RaftAdminClient.connect(cluster.addrs[0]!, { password: null, timeoutMs: 3_000 }), /authentication failed|password/);
    const res = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'raft', 'status', '-c', cluster.addrs[0]!], { env: { ...process.env, HACTL_RAFT_PASSWORD: 'wrong', NO_COLOR: '1' }, timeout: 20_000 }, (err, _out, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }));
    });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /^Error: .*authentication failed.*password/);
    assert.ok(await cluster.status(cluster.addrs[0]!), 'the node still serves clients with the right password');
  });
});
