/**
 * The Raft port under starving and flooding: connections in the handshake are few, per address
 * too, and short-lived; client frames are small; a connection cannot have unbounded requests in
 * flight nor make the node buffer answers it does not read. The password's key is salted per
 * cluster at a cost a client will not lower.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { clusterSalt, deriveClusterKey, KDF_LOG2_N } from '../../../src/raft/transport/auth.js';
import { Channel } from '../../../src/raft/transport/channel.js';
import { acceptHandshake, dial } from '../../../src/raft/transport/handshake.js';
import { MAX_HANDSHAKING_PER_ADDRESS } from '../../../src/raft/transport/admission.js';
import { MAX_IN_FLIGHT } from '../../../src/raft/transport/rpc-server.js';
import { connectRpc, RaftAuthFailed, TcpTransport } from '../../../src/raft/transport/index.js';
import { freePort, recordingLogger, startNode, waitUntil, type TestNode } from './fixtures.js';

const nodes: TestNode[] = [];
const sockets: Socket[] = [];
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(nodes.map((n) => n.transport.close()));
});

async function node(opts: Parameters<typeof startNode>[0] = {}): Promise<TestNode> {
  const n = await startNode(opts);
  nodes.push(n);
  return n;
}

/** An idle TCP connection from `localAddress`; resolves once connected, `closed` once the server drops it. */
function idle(addr: string, localAddress: string): Promise<{ socket: Socket; closed: Promise<number> }> {
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    const opened = Date.now();
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    sockets.push(socket);
    const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now() - opened)));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

describe('the Raft port under starving and flooding', () => {
  it('drops a connection that does not finish its handshake within 2 s', async () => {
    const n = await node();
    const c = await idle(n.addr, '127.0.0.5');
    const lived = await c.closed;
    assert.ok(lived >= 1_900, `closed after ${lived} ms`);
    await n.logger.waitFor(/closed raft connection from 127\.0\.0\.5:\d+: no handshake within 2000 ms/);
  });

  it('keeps a few handshaking connections per address, so other addresses still get in', async () => {
    const n = await node({ password: 'limits secret' });
    const flood = await Promise.all(Array.from({ length: 3 * MAX_HANDSHAKING_PER_ADDRESS }, () => idle(n.addr, '127.0.0.6')));
    // The surplus is dropped at once (the admitted ones live until the handshake timeout).
    const early = await Promise.all(flood.map((c) => Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(-1), 500))])));
    const dropped = early.filter((t) => t >= 0).length;
    assert.ok(dropped >= 2 * MAX_HANDSHAKING_PER_ADDRESS, `${dropped} of ${flood.length} dropped at once`);
    await n.logger.waitFor(/refusing connections \(\d+ so far\): \d+ connections from 127\.0\.0\.6 are still in the handshake/);
    // A member or client on another address is served meanwhile.
    const client = await connectRpc(n.addr, { password: 'limits secret', timeoutMs: 5_000 });
    try {
      assert.deepEqual(await client.request({ op: 'ping' }), { echo: { op: 'ping' }, from: n.addr });
    } finally {
      client.close();
    }
  });

  it('limits client frames to about 1 MiB although members may send larger ones', async () => {
    const n = await node();
    const client = await connectRpc(n.addr, { password: null, timeoutMs: 2_000, maxFrameBytes: 8 << 20 });
    await assert.rejects(client.request({ blob: 'x'.repeat(1100 * 1024) }, 2_000));
    client.close();
    await n.logger.waitFor(/closed raft connection from .*: frame of \d+ bytes exceeds the 1049600-byte limit/);
  });

  it(`runs at most ${MAX_IN_FLIGHT} requests of one connection at once, and answers them all`, async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    const transport = new TcpTransport({ selfAddr: addr, password: null, clusterName: 'transport-tests', logger: recordingLogger() });
    nodes.push({ addr, transport, logger: recordingLogger(), received: [] });
    let running = 0;
    let most = 0;
    transport.onRequest(async (req) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return { echo: req };
    });
    await transport.listen();
    const client = await connectRpc(addr, { password: null, timeoutMs: 10_000 });
    try {
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => client.request({ i }, 20_000)));
      assert.equal(answers.length, 200);
      assert.ok(most <= MAX_IN_FLIGHT, `${most} requests ran at once`);
      assert.ok(most >= MAX_IN_FLIGHT / 2, `only ${most} ran at once: the cap is not what limited them`);
    } finally {
      client.close();
    }
  });

  it('stops reading from a connection that does not read its answers', async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    const transport = new TcpTransport({ selfAddr: addr, password: null, clusterName: 'transport-tests', logger: recordingLogger() });
    nodes.push({ addr, transport, logger: recordingLogger(), received: [] });
    let served = 0;
    const big = 'y'.repeat(256 * 1024);
    transport.onRequest(async () => {
      served++;
      return { big };
    });
    await transport.listen();
    const client = await connectRpc(addr, { password: null, timeoutMs: 10_000 });
    try {
      // Stop reading on the client side, then ask for ~250 MiB of answers.
      const ch = (client as unknown as { channel: { socket: Socket } }).channel;
      ch.socket.pause();
      for (let i = 0; i < 1000; i++) void client.request({ i }, 60_000).catch(() => undefined);
      let last = -1;
      // Served count settles: the node stopped reading new requests while answers wait in the socket.
      await waitUntil(() => {
        const settled = served === last && served > 0;
        last = served;
        return settled;
      }, 10_000, 'the node to stop taking requests');
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(served < 200, `${served} of 1000 requests served while the client read nothing`);
    } finally {
      client.close();
    }
  });
});

describe('the password key', () => {
  it('is salted per cluster: the same password gives different keys in different clusters', async () => {
    const a = await deriveClusterKey('same password', { salt: clusterSalt('cluster-a'), log2N: 10 });
    const b = await deriveClusterKey('same password', { salt: clusterSalt('cluster-b'), log2N: 10 });
    assert.notDeepEqual(a, b);
    assert.deepEqual(clusterSalt('cluster-a'), clusterSalt('cluster-a'));
    assert.notDeepEqual(clusterSalt(null), clusterSalt(null), 'random without a cluster name');
    assert.equal(KDF_LOG2_N, 15);
  });

  it('is derived at the cost the server announces, never below what the client accepts', async () => {
    const n = await node({ password: 'cost secret' });
    await assert.rejects(
      connectRpc(n.addr, { password: 'cost secret', timeoutMs: 5_000, minKdfLog2N: KDF_LOG2_N + 1 }),
      (e: unknown) => e instanceof RaftAuthFailed && /asks for a password hash cost of 2\^15, below the 2\^16 this member accepts/.test(e.message),
    );
    const ok = await connectRpc(n.addr, { password: 'cost secret', timeoutMs: 5_000 });
    ok.close();
  });

  it('is derived outside the server\'s handshake timeout: first contact with a new salt dials twice', async () => {
    // A server whose salt this process has never seen (its key made here directly, not cached).
    const salt = randomBytes(16);
    const key = scryptSync('first contact', salt, 32, { N: 1 << 10, r: 8, p: 1 });
    const logger = recordingLogger();
    let accepted = 0;
    let established = 0;
    const server = createServer((socket) => {
      accepted++;
      const ch = new Channel(socket, `${socket.remoteAddress}:${socket.remotePort}`);
      acceptHandshake(ch, { key, kdf: { salt, log2N: 10 }, timeoutMs: 2_000, maxFrameBytes: () => 1 << 20, logger }, () => established++);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const ch = await dial(`127.0.0.1:${port}`, { role: 'client', nodeId: '', password: 'first contact', minKdfLog2N: 10, timeoutMs: 5_000, maxFrameBytes: 1 << 20, onFrame: () => {} });
      ch.close('done');
      assert.equal(accepted, 2, 'the first connection is dropped while the key is derived');
      assert.equal(established, 1);
      // The key is cached now: the next contact is one connection.
      const again = await dial(`127.0.0.1:${port}`, { role: 'client', nodeId: '', password: 'first contact', minKdfLog2N: 10, timeoutMs: 5_000, maxFrameBytes: 1 << 20, onFrame: () => {} });
      again.close('done');
      assert.equal(accepted, 3);
      assert.equal(established, 2);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
