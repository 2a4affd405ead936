import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Message } from '../../../src/raft/core/types.js';
import {
  connectRpc,
  ListenFailed,
  RaftNodeUnreachable,
  RpcFailed,
  RpcTimedOut,
  TcpTransport,
  type RpcClient,
} from '../../../src/raft/transport/index.js';
import { freePort, heartbeat, recordingLogger, startNode, waitUntil, type TestNode } from './fixtures.js';

const nodes: TestNode[] = [];
const clients: RpcClient[] = [];

async function node(opts: Parameters<typeof startNode>[0] = {}): Promise<TestNode> {
  const n = await startNode(opts);
  nodes.push(n);
  return n;
}

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(nodes.map((n) => n.transport.close()));
});

function appendWithEntries(from: string, to: string, commit: number): Message {
  return {
    type: 'Append',
    from,
    to,
    term: 2,
    prevLogIndex: 10,
    prevLogTerm: 1,
    entries: Array.from({ length: 10 }, (_, i) => ({ index: 11 + i, term: 2, type: 'normal' as const, data: new Uint8Array(256).fill(i) })),
    commit,
    readRound: 0,
  };
}

for (const password of [null, 'correct horse battery staple']) {
  const mode = password ? 'with a password' : 'without a password';

  describe(`two transports ${mode}`, () => {
    it('exchange raft messages both ways, in order', async () => {
      const a = await node({ password });
      const b = await node({ password });
      for (let i = 0; i < 50; i++) a.transport.send(appendWithEntries(a.addr, b.addr, i));
      b.transport.send({ type: 'AppendResp', from: b.addr, to: a.addr, term: 2, success: true, matchIndex: 20, readRound: 0 });
      await waitUntil(() => b.received.length === 50 && a.received.length === 1, 5000, 'messages to arrive');
      assert.deepEqual(
        b.received.map((m) => (m.type === 'Append' ? m.commit : -1)),
        Array.from({ length: 50 }, (_, i) => i),
      );
      const first = b.received[0]!;
      assert.equal(first.type === 'Append' && first.entries[9]!.data[0], 9);
      assert.equal(a.received[0]!.type, 'AppendResp');
      assert.equal(a.received[0]!.from, b.addr);
    });

    it('answers rpc requests, including concurrent ones and failing handlers', async () => {
      const n = await node({ password });
      n.transport.onRequest(async (req) => {
        if (req.op === 'fail') throw new Error('not the leader');
        if (req.op === 'slow') await new Promise((r) => setTimeout(r, 300));
        return { echo: req };
      });
      const client = await connectRpc(n.addr, { password, timeoutMs: 2000 });
      clients.push(client);
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => client.request({ op: 'get', i })));
      assert.deepEqual(answers.map((a) => (a.echo as { i: number }).i), Array.from({ length: 100 }, (_, i) => i));
      await assert.rejects(client.request({ op: 'fail' }), (err: Error) => err instanceof RpcFailed && /not the leader/.test(err.message));
      await assert.rejects(client.request({ op: 'slow' }, 50), RpcTimedOut);
      // The connection stays usable after a timeout; the late answer is ignored.
      assert.deepEqual(await client.request({ op: 'after' }), { echo: { op: 'after' } });
    });
  });
}

describe('tcp transport', () => {
  it('warns at listen when the port has no password, and not when it has one', async () => {
    const open = await node();
    await open.logger.waitFor(/has no password: anyone who can reach it/);
    const closed = await node({ password: 'pw' });
    assert.ok(!closed.logger.lines.some((l) => /has no password/.test(l.message)));
  });

  it('reports an unreachable node clearly', async () => {
    const port = await freePort();
    await assert.rejects(connectRpc(`127.0.0.1:${port}`, { timeoutMs: 1000 }), (err: Error) => {
      assert.ok(err instanceof RaftNodeUnreachable);
      assert.equal(err.message, `cannot reach raft node 127.0.0.1:${port}: connection refused`);
      return true;
    });
  });

  it('fails with the address when the port is busy', async () => {
    const busy = await node();
    const second = new TcpTransport({ selfAddr: busy.addr, logger: recordingLogger() });
    await assert.rejects(second.listen(), (err: Error) => {
      assert.ok(err instanceof ListenFailed);
      assert.equal(err.message, `cannot listen on ${busy.addr}: address already in use`);
      return true;
    });
    await second.close();
    const foreign = new TcpTransport({ selfAddr: '127.0.0.1:1', bindAddr: '192.0.2.1:5010', logger: recordingLogger() });
    await assert.rejects(foreign.listen(), /^ListenFailed: cannot listen on 192\.0\.2\.1:5010: address not available on this host$/);
    await foreign.close();
  });

  it('reconnects to a peer that restarted', async () => {
    const a = await node();
    const addrB = `127.0.0.1:${await freePort()}`;
    const b1 = await node({ addr: addrB });
    a.transport.send(heartbeat(a.addr, addrB, 1, 1));
    await waitUntil(() => b1.received.length === 1);
    await b1.transport.close();
    await a.logger.waitFor(/lost connection to raft peer/);
    // While the peer is down the core keeps sending heartbeats: they fail, queue, and retry with backoff.
    let commit = 2;
    const timer = setInterval(() => a.transport.send(heartbeat(a.addr, addrB, 1, commit++)), 20);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const b2 = await node({ addr: addrB });
      await waitUntil(() => b2.received.length > 0, 5000, 'a message after the restart');
      assert.equal(a.transport.peerStatus().get(addrB)?.connected, true);
    } finally {
      clearInterval(timer);
    }
  });

  it('redials a link that carries messages with nothing back from the peer, and keeps one the peer answers', async () => {
    // A partition by firewall leaves TCP connections "connected" with their packets dropped; after the
    // heal they stay stalled until TCP's backed-off retransmission. Silence of the peer is the sign.
    const a = await node({ peerSilenceMs: 300 });
    const b = await node();
    let answering = true;
    let commit = 0;
    const timer = setInterval(() => {
      a.transport.send(heartbeat(a.addr, b.addr, 1, commit++));
      if (answering) b.transport.send({ type: 'AppendResp', from: b.addr, to: a.addr, term: 1, success: true, matchIndex: 0, readRound: 0 });
    }, 20);
    try {
      await waitUntil(() => b.received.length >= 50, 5000, 'fifty answered heartbeats');
      assert.equal(a.logger.lines.filter((l) => /lost connection to raft peer/.test(l.message)).length, 0, a.logger.lines.map((l) => l.message).join('\n'));
      answering = false;
      await a.logger.waitFor(new RegExp(`lost connection to raft peer ${b.addr.replace(/\./g, '\\.')}: nothing back from it for \\d+ ms while sending \\(a stalled connection\\): reconnecting`));
      const before = b.received.length;
      await waitUntil(() => b.received.length >= before + 10, 5000, 'heartbeats over the new connection');
      assert.equal(a.transport.peerStatus().get(b.addr)?.connected, true);
    } finally {
      clearInterval(timer);
    }
  });

  it('bounds what it queues for a peer that is down, keeping the newest', async () => {
    const addrB = `127.0.0.1:${await freePort()}`;
    const a = await node({ maxQueuedMessages: 10 });
    for (let i = 0; i < 1000; i++) a.transport.send(heartbeat(a.addr, addrB, 1, i));
    const status = a.transport.peerStatus().get(addrB)!;
    assert.equal(status.queuedMessages, 10);
    assert.equal(status.droppedMessages, 990);
    await a.logger.waitFor(/raft peer .* is not taking messages: dropping the oldest/);
    const b = await node({ addr: addrB });
    await waitUntil(() => b.received.length === 10, 5000, 'the queued messages');
    assert.deepEqual(
      b.received.map((m) => (m.type === 'Append' ? m.commit : -1)),
      Array.from({ length: 10 }, (_, i) => 990 + i),
    );
  });

  it('stops sending to a peer after disconnect(), and sending never throws', async () => {
    const a = await node();
    const b = await node();
    a.transport.send(heartbeat(a.addr, b.addr));
    await waitUntil(() => b.received.length === 1);
    a.transport.disconnect(b.addr);
    assert.equal(a.transport.peerStatus().has(b.addr), false);
    a.transport.send(heartbeat(a.addr, 'not an address'));
    a.transport.send({ ...heartbeat(a.addr, b.addr), term: -1 });
    await a.logger.waitFor(/cannot encode Append/);
    a.transport.send(heartbeat(a.addr, b.addr, 1, 7));
    await waitUntil(() => b.received.length === 2);
  });

  it('carries a multi-megabyte snapshot chunk', async () => {
    const a = await node({ password: 'pw' });
    const b = await node({ password: 'pw' });
    const chunk = new Uint8Array(8 * 1024 * 1024).map((_, i) => i % 251);
    const meta = { index: 5, term: 1, membership: { voters: [a.addr, b.addr], learners: [] } };
    a.transport.send({ type: 'Snapshot', from: a.addr, to: b.addr, term: 1, meta, offset: 0, chunk, done: true });
    await waitUntil(() => b.received.length === 1, 10_000);
    const got = b.received[0]!;
    assert.ok(got.type === 'Snapshot' && Buffer.from(got.chunk).equals(Buffer.from(chunk)));
  });

  it('listens and talks on IPv6 loopback', async (t) => {
    const probe = createServer();
    const hasIpv6 = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen({ host: '::1', port: 0 }, () => probe.close(() => resolve(true)));
    });
    if (!hasIpv6) {
      t.skip('no IPv6 loopback here');
      return;
    }
    const a = await node({ addr: `[::1]:${await freePort()}` });
    const b = await node({ addr: `[::1]:${await freePort()}` });
    a.transport.send(heartbeat(a.addr, b.addr));
    await waitUntil(() => b.received.length === 1);
    assert.equal(a.transport.address, a.addr);
  });
});
