import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CodecError } from '../../../src/raft/codec/binary.js';
import { decodeMessage, encodeMessage } from '../../../src/raft/codec/message.js';
import type { Entry, Message } from '../../../src/raft/core/types.js';
import { mulberry32 } from '../../helpers/prng.js';

const A = '127.0.0.1:5010';
const B = '[::1]:5011';

function entries(from: number, count: number, term: number, bytes = 256): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: from + i,
    term,
    type: i === 0 ? 'noop' : i === 1 ? 'config' : 'normal',
    data: Uint8Array.from({ length: i === 0 ? 0 : bytes }, (_, j) => (i * 31 + j) & 0xff),
  }));
}

const samples: Message[] = [
  { type: 'PreVote', from: A, to: B, term: 7, lastLogIndex: 41, lastLogTerm: 6, transfer: false },
  { type: 'Vote', from: A, to: B, term: 8, lastLogIndex: 2 ** 40, lastLogTerm: 7, transfer: true },
  { type: 'PreVoteResp', from: B, to: A, term: 7, granted: true },
  { type: 'VoteResp', from: B, to: A, term: 8, granted: false },
  { type: 'Append', from: A, to: B, term: 3, prevLogIndex: 0, prevLogTerm: 0, entries: [], commit: 0, readRound: 0 },
  { type: 'Append', from: A, to: B, term: 5, prevLogIndex: 99, prevLogTerm: 4, entries: entries(100, 10, 5), commit: 98, readRound: 12 },
  { type: 'AppendResp', from: B, to: A, term: 5, success: true, matchIndex: 109, readRound: 12 },
  { type: 'AppendResp', from: B, to: A, term: 5, success: false, matchIndex: 50, readRound: 0 },
  {
    type: 'Snapshot',
    from: A,
    to: B,
    term: 9,
    meta: { index: 1000, term: 8, membership: { voters: [A, B, 'h3:5012'], learners: ['h4:5013'] } },
    offset: 65536,
    chunk: Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff),
    done: false,
  },
  { type: 'Snapshot', from: A, to: B, term: 9, meta: { index: 1, term: 1, membership: { voters: [A], learners: [] } }, offset: 0, chunk: new Uint8Array(0), done: true },
  { type: 'SnapshotResp', from: B, to: A, term: 9, nextOffset: 69632, installedIndex: 0 },
  { type: 'SnapshotResp', from: B, to: A, term: 9, nextOffset: -1, installedIndex: 0 },
  { type: 'SnapshotResp', from: B, to: A, term: 9, nextOffset: 0, installedIndex: 1000 },
  { type: 'TimeoutNow', from: A, to: B, term: 10 },
];

/** Plain objects with Uint8Array fields, so Buffer-vs-Uint8Array does not fail deepEqual. */
function normalise(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(normalise);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]));
  return v;
}


function decodeOnlyThrowsCodecError(buf: Buffer): void {
  try {
    decodeMessage(buf);
  } catch (err) {
    if (!(err instanceof CodecError)) throw new Error(`decode threw ${String(err)} for ${buf.toString('hex')}`);
  }
}

describe('raft message codec', () => {
  it('round-trips every message variant', () => {
    const seen = new Set<string>();
    for (const msg of samples) {
      const decoded = decodeMessage(encodeMessage(msg));
      assert.deepEqual(normalise(decoded), normalise(msg));
      seen.add(msg.type);
    }
    assert.equal(seen.size, 9, 'a sample of every Message variant');
  });

  it('gives decoded entries their own memory, not a view of the socket buffer', () => {
    const buf = encodeMessage(samples[5]!);
    const decoded = decodeMessage(buf);
    assert.equal(decoded.type, 'Append');
    const before = Array.from(decoded.type === 'Append' ? decoded.entries[3]!.data : []);
    buf.fill(0);
    assert.deepEqual(Array.from(decoded.type === 'Append' ? decoded.entries[3]!.data : []), before);
  });

  it('rejects an unknown message type, trailing bytes and non-boolean flags', () => {
    const vote = encodeMessage(samples[0]!);
    const unknown = Buffer.from(vote);
    unknown[0] = 42;
    assert.throws(() => decodeMessage(unknown), /unknown message type 42/);
    assert.throws(() => decodeMessage(Buffer.concat([vote, Buffer.from([0])])), /trailing bytes/);
    const badBool = Buffer.from(vote);
    badBool[badBool.length - 1] = 2;
    assert.throws(() => decodeMessage(badBool), /transfer must be 0 or 1/);
    assert.throws(() => decodeMessage(Buffer.alloc(0)), CodecError);
  });

  it('rejects Append entries that do not continue the log after prevLogIndex', () => {
    const gap = { ...samples[5]!, entries: entries(101, 3, 5) } as Message;
    assert.throws(() => decodeMessage(encodeMessage(gap)), /expected 100/);
    const futureTerm = { ...samples[5]!, entries: entries(100, 2, 6) } as Message;
    assert.throws(() => decodeMessage(encodeMessage(futureTerm)), /outside 4\.\.5/);
    const termGoesDown = { ...samples[5]!, prevLogTerm: 5, entries: entries(100, 2, 4) } as Message;
    assert.throws(() => decodeMessage(encodeMessage(termGoesDown)), /outside 5\.\.5/);
  });

  it('rejects empty and absurdly long node ids', () => {
    assert.throws(() => decodeMessage(encodeMessage({ ...samples[13]!, from: '' } as Message)), /from must be 1\.\.1024 bytes/);
    assert.throws(() => decodeMessage(encodeMessage({ ...samples[13]!, to: 'x'.repeat(2000) } as Message)), /to must be/);
  });

  it('throws only CodecError on every truncation of every variant', () => {
    for (const msg of samples) {
      const buf = encodeMessage(msg);
      for (let len = 0; len < buf.length; len++) {
        assert.throws(() => decodeMessage(buf.subarray(0, len)), CodecError, `${msg.type} truncated to ${len}`);
      }
    }
  });

  it('throws only CodecError on random bytes and random corruption (fuzz)', () => {
    const random = mulberry32(20240601);
    const byte = (): number => Math.floor(random() * 256);
    for (let i = 0; i < 20_000; i++) {
      const len = Math.floor(random() * 96);
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = byte();
      // Half the time, start with a valid type code so the fuzz reaches the variant decoders.
      if (len > 0 && random() < 0.5) buf[0] = 1 + Math.floor(random() * 9);
      decodeOnlyThrowsCodecError(buf);
    }
    for (let i = 0; i < 20_000; i++) {
      const buf = Buffer.from(encodeMessage(samples[Math.floor(random() * samples.length)]!));
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) buf[Math.floor(random() * buf.length)] = byte();
      decodeOnlyThrowsCodecError(buf);
    }
  });
});
