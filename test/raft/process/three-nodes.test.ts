// Real processes: three `hactl raft node` members on 127.0.0.1 with fsynced data dirs.
// Needs `npm run build` first (npm test does it): the members run the compiled CLI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { RaftCluster } from './cluster.js';
import { LIVENESS_MS, sleep, SUITE_MS, timerBoundMs, waitUntil } from '../../helpers/wait.js';

describe('a three-member Raft cluster of real processes', { timeout: SUITE_MS }, () => {
  let cluster: RaftCluster;

  before(async () => {
    cluster = await RaftCluster.start({ size: 3 });
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('elects one leader and replicates writes made through any member', async () => {
    const leader = await cluster.waitForLeader();
    for (const [i, addr] of cluster.addrs.entries()) {
      const r = await cluster.write(addr, { op: 'set', key: `/svc/k${i}`, value: `v${i}` });
      assert.equal(r.ok, true, `write through ${addr} (leader ${leader})`);
    }
    for (const addr of cluster.addrs) {
      await waitUntil(async () => (await cluster.status(addr))?.keys === 3, { what: `${addr} to apply 3 keys`, timeoutMs: LIVENESS_MS });
      const entry = (await cluster.read(addr, '/svc/k2')) as { value: string } | null;
      assert.equal(entry?.value, 'v2');
    }
  });

  it('answers a retried write (same clientId and seq) without applying it twice', async () => {
    const addr = cluster.addrs[0]!;
    const first = await cluster.write(addr, { op: 'set', key: '/once', value: 'a', ifVersion: 0 }, { clientId: 'retry-client', seq: 1 });
    const again = await cluster.write(cluster.addrs[1]!, { op: 'set', key: '/once', value: 'a', ifVersion: 0 }, { clientId: 'retry-client', seq: 1 });
    assert.equal(first.ok, true);
    assert.deepEqual(again, first, 'the retry gets the stored answer, not a create-if-absent failure');
  });

  it('survives garbage on the Raft port without crashing', async () => {
    const [host, port] = cluster.addrs[0]!.split(':') as [string, string];
    for (const payload of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), Buffer.alloc(4096, 0x41)]) {
      await new Promise<void>((resolve) => {
        const s = net.connect({ host, port: Number(port) }, () => s.end(payload));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.resume();
        setTimeout(() => { s.destroy(); resolve(); }, 2_000);
      });
    }
    assert.equal(cluster.proc(cluster.addrs[0]!).hasExited, false, 'the node is still running');
    assert.ok(await cluster.status(cluster.addrs[0]!), 'and still answers status');
  });

  it('keeps working while a follower is stopped (SIGSTOP) and is not disrupted when it returns (pre-vote)', async () => {
    const leader = await cluster.waitForLeader();
    const termBefore = (await cluster.status(leader))!.raft_term;
    const follower = cluster.addrs.find((a) => a !== leader)!;
    cluster.proc(follower).signal('SIGSTOP');
    try {
      await sleep(2_500); // longer than the maximum election timeout
      for (let i = 0; i < 5; i++) assert.equal((await cluster.write(leader, { op: 'set', key: '/during-stop', value: String(i) })).ok, true);
    } finally {
      cluster.proc(follower).signal('SIGCONT');
    }
    await waitUntil(async () => (await cluster.status(follower))?.leader === leader, { what: `${follower} to follow ${leader} again`, timeoutMs: LIVENESS_MS });
    await sleep(1_500);
    const after = (await cluster.status(leader))!;
    assert.equal(after.role, 'leader', 'the leader kept its leadership');
    assert.equal(after.raft_term, termBefore, 'no election happened: the returning member did not bump the term');
  });

  it('elects a new leader within seconds after kill -9 of the leader, losing no acknowledged write', async () => {
    const leader = await cluster.waitForLeader();
    const acked: string[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await cluster.write(leader, { op: 'set', key: `/acked/${i}`, value: String(i) });
      if (r.ok) acked.push(`/acked/${i}`);
    }
    const killedAt = Date.now();
    await cluster.kill(leader, 'SIGKILL');
    const survivors = cluster.addrs.filter((a) => a !== leader);
    const next = await cluster.waitForLeader({ exclude: leader, among: survivors, timeoutMs: LIVENESS_MS });
    const tookMs = Date.now() - killedAt;
    // An election timeout (at most 2.5 s here) drives it, not a hang or a much longer timer.
    assert.ok(tookMs < timerBoundMs(2_500), `new leader after ${tookMs} ms`);
    for (const key of acked) assert.ok(await cluster.read(next, key), `acknowledged ${key} survived`);
    // The killed member restarts from its data dir and catches up.
    cluster.startNode(leader, cluster.addrs);
    await cluster.waitListening(leader);
    await waitUntil(async () => (await cluster.status(leader))?.leader === next, { what: 'the restarted member to rejoin', timeoutMs: LIVENESS_MS });
    assert.ok(await cluster.read(leader, '/acked/49'), 'read through the restarted member');
  });

  it('`hactl raft status` renders a table and JSON for a live member, and fails clearly when unreachable', async () => {
    const { execFile } = await import('node:child_process');
    const { BIN } = await import('./cluster.js');
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: 20_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
      });
    const leader = await cluster.waitForLeader();
    const table = await run(['raft', 'status', '-c', leader]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /│ role\s+│ leader/);
    assert.match(table.stdout, new RegExp(`partner_node_status_server_${cluster.addrs.find((a) => a !== leader)!.replace(/\./g, '\\.')}`));
    const json = await run(['raft', 'status', '-c', leader, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const status = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(status.self, leader);
    assert.equal(status.state, 2);
    for (const k of ['version', 'has_quorum', 'log_len', 'last_applied', 'commit_idx', 'raft_term', 'leader_commit_idx', 'uptime', 'keys', 'leases']) assert.ok(k in status, k);
    const members = await run(['raft', 'members', '-c', leader, '--json']);
    assert.equal((JSON.parse(members.stdout) as unknown[]).length, 3);
    const { freePort } = await import('../../helpers/net.js');
    const down = await run(['raft', 'status', '-c', `127.0.0.1:${await freePort()}`, '--timeout', '2']);
    assert.notEqual(down.code, 0);
    assert.match(down.stderr, /^Error: cannot reach raft node 127\.0\.0\.1:\d+: connection refused/);
  });
});
