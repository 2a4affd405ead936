/**
 * Whatever arrives on the Raft port, only the offending connection is closed, the reason is
 * logged with the remote address, and the node goes on serving well-behaved clients.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { encodeMessage } from '../../../src/raft/codec/message.js';
import type { Channel } from '../../../src/raft/transport/channel.js';
import { encodeBatch, FrameKind, PROTOCOL_VERSION } from '../../../src/raft/transport/frame.js';
import { dial } from '../../../src/raft/transport/handshake.js';
import { encodeRpcRequest } from '../../../src/raft/transport/rpc-codec.js';
import { connectRpc, RaftAuthFailed, RaftNodeUnreachable, TcpTransport } from '../../../src/raft/transport/index.js';
import { heartbeat, recordingLogger, startNode, waitUntil, type TestNode } from './fixtures.js';

const PASSWORD = 'cluster secret';
const nodes: TestNode[] = [];
const sockets: Socket[] = [];
const channels: Channel[] = [];

after(async () => {
  for (const s of sockets) s.destroy();
  for (const c of channels) c.close('test over');
  await Promise.all(nodes.map((n) => n.transport.close()));
});

async function node(opts: Parameters<typeof startNode>[0] = {}): Promise<TestNode> {
  const n = await startNode(opts);
  nodes.push(n);
  return n;
}

async function assertStillServes(n: TestNode, password: string | null): Promise<void> {
  const client = await connectRpc(n.addr, { password, timeoutMs: 2000 });
  try {
    assert.deepEqual(await client.request({ op: 'ping' }), { echo: { op: 'ping' }, from: n.addr });
  } finally {
    client.close();
  }
}

/** Writes raw bytes to the port and resolves once the server has closed the connection. */
function rawExchange(addr: string, bytes: Buffer, opts: { endAfterWrite?: boolean } = {}): Promise<void> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const s = connect({ host, port }, () => {
      s.write(bytes);
      if (opts.endAfterWrite) s.end();
    });
    sockets.push(s);
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

function frame(version: number, kind: number, payload: Buffer, declaredLength = payload.length + 2): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt32BE(declaredLength, 0);
  h[4] = version;
  h[5] = kind;
  return Buffer.concat([h, payload]);
}

/** An authenticated connection driven by the test, recording every byte it writes. */
async function rawPeer(n: TestNode, nodeId: string, password: string | null): Promise<{ ch: Channel; written: Buffer[] }> {
  const ch = await dial(n.addr, { role: 'peer', nodeId, password, timeoutMs: 5000, maxFrameBytes: 1 << 20, onFrame: () => {} });
  channels.push(ch);
  const written: Buffer[] = [];
  const write = ch.socket.write.bind(ch.socket) as (b: Buffer) => boolean;
  ch.socket.write = ((b: Buffer) => {
    written.push(Buffer.from(b));
    return write(b);
  }) as typeof ch.socket.write;
  return { ch, written };
}

function closedOnce(ch: Channel): Promise<string> {
  return new Promise((resolve) => ch.onClose((info) => resolve(info.reason)));
}

describe('a node under hostile input', () => {
  it('refuses a wrong password: both sides say so, and other clients are still served', async () => {
    const n = await node({ password: PASSWORD });
    await assert.rejects(connectRpc(n.addr, { password: 'guess', timeoutMs: 2000 }), (err: Error) => {
      assert.ok(err instanceof RaftAuthFailed);
      assert.equal(err.message, `authentication failed: wrong raft password for ${n.addr}`);
      return true;
    });
    const line = await n.logger.waitFor(/^authentication failed from 127\.0\.0\.1:\d+: wrong raft password$/);
    assert.equal(line.level, 'warn');
    await assertStillServes(n, PASSWORD);
  });

  it('refuses clients without a password, and explains a password the node does not use', async () => {
    const secured = await node({ password: PASSWORD });
    await assert.rejects(
      connectRpc(secured.addr, { timeoutMs: 2000 }),
      new RegExp(`^RaftAuthFailed: authentication failed: ${secured.addr} requires a raft password and none is configured here$`),
    );
    await secured.logger.waitFor(/authentication failed from .*: the client has no raft password/);
    const open = await node();
    await assert.rejects(connectRpc(open.addr, { password: PASSWORD, timeoutMs: 2000 }), /has no raft password but one is configured here/);
    await assertStillServes(secured, PASSWORD);
    await assertStillServes(open, null);
  });

  it('logs an error when a peer link uses the wrong password', async () => {
    const b = await node({ password: PASSWORD });
    const logger = recordingLogger();
    const a = new TcpTransport({ selfAddr: '127.0.0.1:1', password: 'other', logger });
    a.send(heartbeat('127.0.0.1:1', b.addr));
    const line = await logger.waitFor(/authentication failed: wrong raft password for/);
    assert.equal(line.level, 'error');
    await a.close();
    assert.equal(b.received.length, 0);
  });

  it('closes a connection that sends garbage (an HTTP request)', async () => {
    const n = await node({ password: PASSWORD });
    await rawExchange(n.addr, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await n.logger.waitFor(/^closed raft connection from 127\.0\.0\.1:\d+: frame of 1195725856 bytes exceeds the 4096-byte limit$/);
    await assertStillServes(n, PASSWORD);
  });

  it('closes a connection speaking another protocol version or an unknown frame kind', async () => {
    const n = await node();
    await rawExchange(n.addr, frame(9, 1, Buffer.alloc(4)));
    await n.logger.waitFor(/closed raft connection from .*: the other side speaks Raft wire protocol version 9, this hactl speaks 3/);
    // An older hactl (version 2: unsalted challenge) is told so at its Hello instead of failing later.
    await rawExchange(n.addr, frame(2, FrameKind.Hello, Buffer.alloc(4)));
    await n.logger.waitFor(/closed raft connection from .*: the other side speaks Raft wire protocol version 2, this hactl speaks 3: every member .* must run the same release/);
    await rawExchange(n.addr, frame(PROTOCOL_VERSION, 77, Buffer.alloc(4)));
    await n.logger.waitFor(/closed raft connection from .*: unknown frame kind 77/);
    await rawExchange(n.addr, frame(PROTOCOL_VERSION, FrameKind.RpcRequest, Buffer.alloc(4)));
    await n.logger.waitFor(/closed raft connection from .*: unexpected RpcRequest frame during the handshake/);
    await rawExchange(n.addr, frame(PROTOCOL_VERSION, FrameKind.Hello, Buffer.from([7, 1, 2])));
    await n.logger.waitFor(/closed raft connection from .*: unknown role 7/);
    await assertStillServes(n, null);
  });

  it('closes a connection announcing an oversize frame, before and after the handshake', async () => {
    const n = await node({ password: PASSWORD, maxFrameBytes: 1024 * 1024 });
    await rawExchange(n.addr, Buffer.from([0xff, 0xff, 0xff, 0xff]));
    await n.logger.waitFor(/closed raft connection from .*: frame of 4294967295 bytes exceeds the 4096-byte limit/);
    // Authenticated but too big: the limit in force after the handshake is maxFrameBytes.
    const client = await connectRpc(n.addr, { password: PASSWORD, timeoutMs: 2000 });
    await assert.rejects(client.request({ blob: 'x'.repeat(2 * 1024 * 1024) }), RaftNodeUnreachable);
    client.close();
    await n.logger.waitFor(/closed raft connection from .*: frame of \d+ bytes exceeds the 1049624-byte limit/);
    await assertStillServes(n, PASSWORD);
  });

  it('logs a frame truncated by the peer closing mid-frame', async () => {
    const n = await node();
    await rawExchange(n.addr, Buffer.concat([frame(PROTOCOL_VERSION, FrameKind.Hello, Buffer.alloc(10), 100)]), { endAfterWrite: true });
    await n.logger.waitFor(/closed raft connection from 127\.0\.0\.1:\d+: connection closed mid-frame \(got 16 of 104 bytes\)/);
    await assertStillServes(n, null);
  });

  it('closes an encrypted connection on a replayed frame and on a tampered one', async () => {
    const n = await node({ password: PASSWORD });
    const replay = await rawPeer(n, '127.0.0.1:7001', PASSWORD);
    replay.ch.send(FrameKind.RaftMessage, encodeMessage(heartbeat('127.0.0.1:7001', n.addr)));
    await waitUntil(() => n.received.length === 1);
    const replayClosed = closedOnce(replay.ch);
    replay.ch.socket.write(replay.written[replay.written.length - 1]!);
    await n.logger.waitFor(/closed raft connection from .*: replayed or reordered frame: counter 0, expected 1/);
    await replayClosed;
    assert.equal(n.received.length, 1, 'the replayed message was not delivered');

    const tamper = await rawPeer(n, '127.0.0.1:7002', PASSWORD);
    tamper.ch.socket.write = ((b: Buffer) => {
      const copy = Buffer.from(b);
      copy[copy.length - 20]! ^= 0x01;
      return tamper.ch.socket.destroyed ? false : Object.getPrototypeOf(tamper.ch.socket).write.call(tamper.ch.socket, copy);
    }) as typeof tamper.ch.socket.write;
    tamper.ch.send(FrameKind.RpcRequest, encodeRpcRequest(1, { op: 'x' }));
    await n.logger.waitFor(/closed raft connection from .*: encrypted frame failed its integrity check/);
    await assertStillServes(n, PASSWORD);
  });

  it('delivers the frames of one turn sealed as a batch, and refuses a batch that is not sealed', async () => {
    const n = await node({ password: PASSWORD });
    const peer = await rawPeer(n, '127.0.0.1:7006', PASSWORD);
    for (let i = 0; i < 3; i++) peer.ch.send(FrameKind.RaftMessage, encodeMessage(heartbeat('127.0.0.1:7006', n.addr)));
    await waitUntil(() => n.received.length === 3);
    assert.equal(peer.written.length, 1, 'one socket write for the turn');
    assert.equal(peer.written[0]![5], FrameKind.Batch, 'sealed once, as a batch');

    const open = await node();
    const plain = await rawPeer(open, '127.0.0.1:7007', null);
    const smuggled = encodeBatch([{ kind: FrameKind.RaftMessage, payload: encodeMessage(heartbeat('127.0.0.1:7007', open.addr)) }]);
    plain.ch.socket.write(frame(PROTOCOL_VERSION, FrameKind.Batch, smuggled));
    await open.logger.waitFor(/closed raft connection from .*: batch frame on a connection that is not encrypted/);
    assert.equal(open.received.length, 0);
    await assertStillServes(n, PASSWORD);
  });

  it('closes a peer connection carrying a malformed or forged raft message', async () => {
    const n = await node({ password: PASSWORD });
    const bad = await rawPeer(n, '127.0.0.1:7003', PASSWORD);
    bad.ch.send(FrameKind.RaftMessage, Buffer.from([5, 0, 0]));
    await n.logger.waitFor(/closed raft connection from .*: truncated input reading from/);
    const forged = await rawPeer(n, '127.0.0.1:7004', PASSWORD);
    forged.ch.send(FrameKind.RaftMessage, encodeMessage(heartbeat('127.0.0.1:9999', n.addr)));
    await n.logger.waitFor(/raft message claims to be from 127\.0\.0\.1:9999, but the connection is from 127\.0\.0\.1:7004/);
    const client = await rawPeer(n, '127.0.0.1:7005', PASSWORD);
    client.ch.send(FrameKind.RpcRequest, Buffer.from('\0\0\0\x01not json'));
    await n.logger.waitFor(/closed raft connection from .*: rpc request is not valid JSON/);
    assert.equal(n.received.length, 0);
    await assertStillServes(n, PASSWORD);
  });
});
