import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IntegrityError, SessionCipher, sessionCiphers } from '../../../src/raft/transport/auth.js';
import { decodeBatch, encodeBatch, FrameDecoder, FrameError, FrameKind, frameHeader, PROTOCOL_VERSION } from '../../../src/raft/transport/frame.js';

function frameOf(kind: FrameKind, payload: Buffer): Buffer {
  return Buffer.concat([frameHeader(kind, payload.length), payload]);
}

describe('frame decoder', () => {
  it('reassembles frames split at every byte boundary and coalesced in one read', () => {
    const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(3000, 7), Buffer.from('last')];
    const stream = Buffer.concat(payloads.map((p) => frameOf(FrameKind.RaftMessage, p)));
    for (const step of [1, 2, 5, 7, 4096, stream.length]) {
      const decoder = new FrameDecoder(1 << 20);
      const got: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) {
        for (const f of decoder.push(stream.subarray(i, i + step))) got.push(Buffer.from(f.payload));
      }
      assert.deepEqual(got, payloads, `chunks of ${step} bytes`);
      assert.equal(decoder.pendingBytes, 0);
    }
  });

  it('rejects an oversize length as soon as the prefix arrives', () => {
    const decoder = new FrameDecoder(100);
    assert.throws(() => decoder.push(Buffer.from([0, 0, 0, 103])), new FrameError('frame of 103 bytes exceeds the 100-byte limit'));
  });

  it('rejects a length below the header, a foreign version and an unknown kind', () => {
    assert.throws(() => new FrameDecoder(100).push(Buffer.from([0, 0, 0, 1, 1])), /below the 2-byte header/);
    assert.throws(() => new FrameDecoder(100).push(Buffer.from([0, 0, 0, 2, 1, 6])), /speaks Raft wire protocol version 1, this hactl speaks 3: every member and every hactl that talks to them must run the same release/);
    assert.throws(() => new FrameDecoder(100).push(Buffer.from([0, 0, 0, 2, PROTOCOL_VERSION, 0])), /unknown frame kind 0/);
  });
});

describe('batch frames', () => {
  const frames = [
    { kind: FrameKind.RpcResponse, payload: Buffer.from('first') },
    { kind: FrameKind.RaftMessage, payload: Buffer.alloc(0) },
    { kind: FrameKind.RpcRequest, payload: Buffer.alloc(300, 9) },
  ];

  it('round-trips the frames sent in one turn', () => {
    assert.deepEqual(decodeBatch(encodeBatch(frames)), frames);
  });

  it('rejects a truncated, overrunning, empty or nested batch and handshake frames inside one', () => {
    const good = encodeBatch(frames);
    assert.throws(() => decodeBatch(good.subarray(0, good.length - 1)), /frame of 300 bytes inside a batch runs past its end/);
    assert.throws(() => decodeBatch(Buffer.concat([good, Buffer.from([0, 0])])), /truncated frame header inside a batch at offset 320/);
    assert.throws(() => decodeBatch(Buffer.alloc(0)), new FrameError('empty batch frame'));
    assert.throws(() => decodeBatch(encodeBatch([{ kind: FrameKind.Batch, payload: good }])), /Batch frame inside a batch/);
    assert.throws(() => decodeBatch(encodeBatch([{ kind: FrameKind.AuthOk, payload: Buffer.alloc(32) }])), /AuthOk frame inside a batch/);
    const unknown = encodeBatch([{ kind: FrameKind.RpcRequest, payload: Buffer.from('x') }]);
    unknown[4] = 77;
    assert.throws(() => decodeBatch(unknown), /unknown\(77\) frame inside a batch/);
  });
});

describe('session cipher', () => {
  const key = Buffer.alloc(32, 1);
  const client = sessionCiphers(key, Buffer.alloc(32, 2), Buffer.alloc(32, 3), 'client');
  const server = sessionCiphers(key, Buffer.alloc(32, 2), Buffer.alloc(32, 3), 'server');

  it('opens what the other side sealed, in order, in both directions', () => {
    for (let i = 0; i < 3; i++) {
      const sealed = client.outgoing.seal(1, FrameKind.RaftMessage, Buffer.from(`c${i}`));
      assert.equal(server.incoming.open(1, FrameKind.RaftMessage, sealed).toString(), `c${i}`);
      const back = server.outgoing.seal(1, FrameKind.RpcResponse, Buffer.from(`s${i}`));
      assert.equal(client.incoming.open(1, FrameKind.RpcResponse, back).toString(), `s${i}`);
    }
  });

  it('refuses a replayed frame, a frame sealed for another kind, and a different key', () => {
    const a = new SessionCipher(key);
    const b = new SessionCipher(key);
    const first = a.seal(1, FrameKind.RaftMessage, Buffer.from('x'));
    b.open(1, FrameKind.RaftMessage, first);
    assert.throws(() => b.open(1, FrameKind.RaftMessage, first), /replayed or reordered frame: counter 0, expected 1/);
    const second = a.seal(1, FrameKind.RaftMessage, Buffer.from('y'));
    assert.throws(() => b.open(1, FrameKind.RpcRequest, second), IntegrityError);
    const other = new SessionCipher(Buffer.alloc(32, 9));
    assert.throws(() => other.open(1, FrameKind.RaftMessage, new SessionCipher(key).seal(1, FrameKind.RaftMessage, Buffer.from('z'))), /integrity check/);
  });
});
