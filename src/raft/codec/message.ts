/**
 * Binary wire format of Raft messages. Every field is validated on decode: a message that reaches
 * the core is well-formed, so a buggy or hostile peer can at worst be disconnected, never corrupt a
 * log. Layout: u8 type, str from, str to, u64 term, then the variant's fields (see below).
 */
import type { Entry, Message, MessageType } from '../core/types.js';
import { CodecError, Reader, Writer } from './binary.js';
import { readEntry, readSnapshotMeta, writeEntry, writeSnapshotMeta } from './entry.js';

const TYPE_CODES: Record<MessageType, number> = {
  PreVote: 1,
  Vote: 2,
  PreVoteResp: 3,
  VoteResp: 4,
  Append: 5,
  AppendResp: 6,
  Snapshot: 7,
  SnapshotResp: 8,
  TimeoutNow: 9,
};

const TYPES_BY_CODE: readonly (MessageType | undefined)[] = (() => {
  const out: (MessageType | undefined)[] = [];
  for (const [type, code] of Object.entries(TYPE_CODES)) out[code] = type as MessageType;
  return out;
})();

/** Node ids are "host:port"; anything much longer is garbage, not an address. */
const MAX_NODE_ID_BYTES = 1024;
/** u64 index + u64 term + u8 type + u32 data length. */
const ENTRY_OVERHEAD_BYTES = 21;

function writeBool(w: Writer, v: boolean): void {
  w.u8(v ? 1 : 0);
}

function readBool(r: Reader, what: string): boolean {
  const v = r.u8(what);
  if (v > 1) throw new CodecError(`${what} must be 0 or 1, got ${v}`);
  return v === 1;
}

function readNodeId(r: Reader, what: string): string {
  const raw = r.bytes(what);
  if (raw.length === 0 || raw.length > MAX_NODE_ID_BYTES) {
    throw new CodecError(`${what} must be 1..${MAX_NODE_ID_BYTES} bytes, got ${raw.length}`);
  }
  return raw.toString('utf8');
}

/** Pre-size the writer so an Append with large entries is encoded without regrowing the buffer. */
function estimateBytes(msg: Message): number {
  let n = 64 + (msg.from.length + msg.to.length) * 3;
  if (msg.type === 'Append') {
    for (const e of msg.entries) n += ENTRY_OVERHEAD_BYTES + e.data.length;
  } else if (msg.type === 'Snapshot') {
    n += msg.chunk.length + 64 + (msg.meta.membership.voters.length + msg.meta.membership.learners.length) * 64;
  }
  return n;
}

export function encodeMessage(msg: Message): Buffer {
  const w = new Writer(estimateBytes(msg));
  w.u8(TYPE_CODES[msg.type]).str(msg.from).str(msg.to).u64(msg.term);
  switch (msg.type) {
    case 'PreVote':
    case 'Vote':
      w.u64(msg.lastLogIndex).u64(msg.lastLogTerm);
      writeBool(w, msg.transfer);
      break;
    case 'PreVoteResp':
    case 'VoteResp':
      writeBool(w, msg.granted);
      break;
    case 'Append':
      w.u64(msg.prevLogIndex).u64(msg.prevLogTerm).u64(msg.commit).u64(msg.readRound).u32(msg.entries.length);
      for (const e of msg.entries) writeEntry(w, e);
      break;
    case 'AppendResp':
      writeBool(w, msg.success);
      w.u64(msg.matchIndex).u64(msg.readRound);
      break;
    case 'Snapshot':
      writeSnapshotMeta(w, msg.meta);
      w.u64(msg.offset).bytes(msg.chunk);
      writeBool(w, msg.done);
      break;
    case 'SnapshotResp':
      // nextOffset may be -1 ("restart the transfer"): shifted by one to stay unsigned on the wire.
      w.u64(msg.nextOffset + 1).u64(msg.installedIndex);
      break;
    case 'TimeoutNow':
      break;
  }
  return w.finish();
}

/**
 * Entries of one Append must continue the log right after prevLogIndex, with terms that never go
 * down and never exceed the sender's term: the core's log-matching logic assumes exactly that.
 */
function readEntries(r: Reader, prevLogIndex: number, prevLogTerm: number, term: number): Entry[] {
  const count = r.u32('entry count');
  const entries: Entry[] = [];
  let lastTerm = prevLogTerm;
  for (let i = 0; i < count; i++) {
    const e = readEntry(r);
    if (e.index !== prevLogIndex + 1 + i) {
      throw new CodecError(`entry ${i} has index ${e.index}, expected ${prevLogIndex + 1 + i}`);
    }
    if (e.term < lastTerm || e.term > term) {
      throw new CodecError(`entry ${e.index} has term ${e.term}, outside ${lastTerm}..${term}`);
    }
    lastTerm = e.term;
    entries.push(e);
  }
  return entries;
}

/** Decode one message; throws CodecError (and nothing else) on any malformed input. */
export function decodeMessage(buf: Buffer): Message {
  const r = new Reader(buf);
  const code = r.u8('message type');
  const type = TYPES_BY_CODE[code];
  if (type === undefined) throw new CodecError(`unknown message type ${code}`);
  const from = readNodeId(r, 'from');
  const to = readNodeId(r, 'to');
  const term = r.u64('term');
  let msg: Message;
  switch (type) {
    case 'PreVote':
    case 'Vote': {
      const lastLogIndex = r.u64('lastLogIndex');
      const lastLogTerm = r.u64('lastLogTerm');
      msg = { type, from, to, term, lastLogIndex, lastLogTerm, transfer: readBool(r, 'transfer') };
      break;
    }
    case 'PreVoteResp':
    case 'VoteResp':
      msg = { type, from, to, term, granted: readBool(r, 'granted') };
      break;
    case 'Append': {
      const prevLogIndex = r.u64('prevLogIndex');
      const prevLogTerm = r.u64('prevLogTerm');
      const commit = r.u64('commit');
      const readRound = r.u64('readRound');
      const entries = readEntries(r, prevLogIndex, prevLogTerm, term);
      msg = { type, from, to, term, prevLogIndex, prevLogTerm, entries, commit, readRound };
      break;
    }
    case 'AppendResp': {
      const success = readBool(r, 'success');
      msg = { type, from, to, term, success, matchIndex: r.u64('matchIndex'), readRound: r.u64('readRound') };
      break;
    }
    case 'Snapshot': {
      const meta = readSnapshotMeta(r);
      const offset = r.u64('offset');
      // Copy: the frame buffer belongs to the socket and is reused.
      const chunk = Uint8Array.prototype.slice.call(r.bytes('chunk'));
      msg = { type, from, to, term, meta, offset, chunk, done: readBool(r, 'done') };
      break;
    }
    case 'SnapshotResp': {
      const nextOffset = r.u64('nextOffset') - 1;
      msg = { type, from, to, term, nextOffset, installedIndex: r.u64('installedIndex') };
      break;
    }
    case 'TimeoutNow':
      msg = { type, from, to, term };
      break;
  }
  r.end(`${type} message`);
  return msg;
}
