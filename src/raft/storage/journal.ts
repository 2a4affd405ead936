/**
 * On-disk record format of the Raft journal (and the frame of the snapshot file).
 *
 * Every record is framed as [payload length u32][crc32 u32][payload], big-endian; the CRC covers
 * the length field and the payload, so a damaged length is caught as surely as damaged data.
 * The first payload byte is the record kind:
 *   HEADER      magic, segment sequence — first record of every segment file
 *   ENTRIES     a batch of entries; replay drops every stored entry with index ≥ the first one,
 *               so suffix replacement needs no separate marker (same rule as etcd's WAL)
 *   HARD_STATE  term, vote, commit; the last one replayed wins
 *   SNAPSHOT    written after a snapshot file is durable: drop entries ≤ index, or (keep = 0) the
 *               whole log, when the snapshot replaced a conflicting log (Raft §7, InstallSnapshot)
 *   BATCH       (format 2) at both ends of every write (after the segment prefix, if any, and
 *               last): the segment offset where that write starts and its total length. A write
 *               starts only once everything before it was fdatasynced, so a BATCH record of a
 *               write at offset X proves that every byte before X was durable, and therefore
 *               possibly acknowledged: damage there is corruption, never a torn write. The copy
 *               at the end tells a complete write whose first record is damaged from a torn one
 *               (tail.ts).
 *
 * Term and vote are NOT taken from this log (format 2): they live in the two-copy voter file
 * (voter-file.ts). HARD_STATE records still carry them with the commit index, as extra evidence.
 * Format 1 segments (header magic HWL1, no BATCH records) are read for the one-time migration.
 */
import { crc32 } from 'node:zlib';
import type { Entry, HardState } from '../core/types.js';
import { CodecError, Reader, Writer } from '../codec/binary.js';
import { readEntry, readHardState, writeEntry, writeHardState } from '../codec/entry.js';

export const FRAME_HEADER_BYTES = 8;
/** A length above this cannot be a record we wrote: treat it as damage, not as a huge allocation. */
export const MAX_RECORD_BYTES = 1 << 30;
const SEGMENT_MAGIC_V1 = 0x48574c31; // "HWL1"
const SEGMENT_MAGIC = 0x48574c32; // "HWL2"

const KIND_HEADER = 0;
const KIND_ENTRIES = 1;
const KIND_HARD_STATE = 2;
const KIND_SNAPSHOT = 3;
const KIND_BATCH = 4;

/** Follows the kind byte of a BATCH record, so recovery can find batches after damage with indexOf. */
const BATCH_MAGIC = Buffer.from('hactlBAT', 'latin1');
/** Frame header + kind + magic + seq + offset + length. */
export const BATCH_RECORD_BYTES = FRAME_HEADER_BYTES + 1 + BATCH_MAGIC.length + 8 + 8 + 8;

export type JournalRecord =
  | { kind: 'header'; seq: number; format: 1 | 2 }
  | { kind: 'entries'; entries: Entry[] }
  | { kind: 'hardState'; hardState: HardState }
  | { kind: 'snapshot'; index: number; term: number; keepFollowing: boolean }
  | { kind: 'batch'; seq: number; offset: number; length: number };

function frameChecksum(frame: Buffer, payloadLength: number): number {
  return crc32(frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + payloadLength), crc32(frame.subarray(0, 4)));
}

/** Wraps a payload in the [length][crc32] frame. */
export function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, FRAME_HEADER_BYTES);
  out.writeUInt32BE(frameChecksum(out, payload.length), 4);
  return out;
}

export type FrameCheck = { ok: true; payload: Buffer; next: number } | { ok: false; reason: string };

/** Validates the frame at `offset` without throwing: the caller decides what damage means. */
export function readFrame(buf: Buffer, offset: number): FrameCheck {
  const left = buf.length - offset;
  if (left < FRAME_HEADER_BYTES) return { ok: false, reason: `truncated frame header (${left} bytes)` };
  const length = buf.readUInt32BE(offset);
  if (length === 0 || length > MAX_RECORD_BYTES) return { ok: false, reason: `implausible record length ${length}` };
  if (length > left - FRAME_HEADER_BYTES) {
    return { ok: false, reason: `truncated record (length ${length}, ${left - FRAME_HEADER_BYTES} bytes left)` };
  }
  const stored = buf.readUInt32BE(offset + 4);
  const actual = frameChecksum(buf.subarray(offset), length);
  if (stored !== actual) return { ok: false, reason: 'checksum mismatch' };
  const start = offset + FRAME_HEADER_BYTES;
  return { ok: true, payload: buf.subarray(start, start + length), next: start + length };
}

export function encodeHeader(seq: number, format: 1 | 2 = 2): Buffer {
  return frame(new Writer(16).u8(KIND_HEADER).u32(format === 2 ? SEGMENT_MAGIC : SEGMENT_MAGIC_V1).u64(seq).finish());
}

/** The BATCH record of a write of `length` bytes (this record included) starting at `offset`. */
export function encodeBatchMark(seq: number, offset: number, length: number): Buffer {
  const payload = Buffer.allocUnsafe(1 + BATCH_MAGIC.length + 24);
  payload[0] = KIND_BATCH;
  BATCH_MAGIC.copy(payload, 1);
  const at = 1 + BATCH_MAGIC.length;
  payload.writeBigUInt64BE(BigInt(seq), at);
  payload.writeBigUInt64BE(BigInt(offset), at + 8);
  payload.writeBigUInt64BE(BigInt(length), at + 16);
  return frame(payload);
}

export function encodeEntries(entries: readonly Entry[]): Buffer {
  let bytes = 8;
  for (const e of entries) bytes += 25 + e.data.length;
  const w = new Writer(bytes).u8(KIND_ENTRIES).u32(entries.length);
  for (const e of entries) writeEntry(w, e);
  return frame(w.finish());
}

export function encodeHardState(hs: HardState): Buffer {
  const w = new Writer(64).u8(KIND_HARD_STATE);
  writeHardState(w, hs);
  return frame(w.finish());
}

export function encodeSnapshotMark(index: number, term: number, keepFollowing: boolean): Buffer {
  return frame(new Writer(24).u8(KIND_SNAPSHOT).u64(index).u64(term).u8(keepFollowing ? 1 : 0).finish());
}

/** Decodes a payload whose checksum already matched; throws CodecError if it still makes no sense. */
export function decodeRecord(payload: Buffer): JournalRecord {
  const r = new Reader(payload);
  const kind = r.u8('record kind');
  let rec: JournalRecord;
  switch (kind) {
    case KIND_HEADER: {
      const magic = r.u32('segment magic');
      if (magic !== SEGMENT_MAGIC && magic !== SEGMENT_MAGIC_V1) throw new CodecError(`bad segment magic 0x${magic.toString(16)}`);
      rec = { kind: 'header', seq: r.u64('segment sequence'), format: magic === SEGMENT_MAGIC ? 2 : 1 };
      break;
    }
    case KIND_BATCH: {
      const hi = r.u32('batch magic');
      const lo = r.u32('batch magic');
      if (hi !== BATCH_MAGIC.readUInt32BE(0) || lo !== BATCH_MAGIC.readUInt32BE(4)) throw new CodecError('bad batch magic');
      rec = { kind: 'batch', seq: r.u64('batch segment'), offset: r.u64('batch offset'), length: r.u64('batch length') };
      break;
    }
    case KIND_ENTRIES: {
      const count = r.u32('entry count');
      const entries: Entry[] = [];
      for (let i = 0; i < count; i++) {
        const e = readEntry(r);
        if (i > 0 && e.index !== entries[i - 1]!.index + 1) throw new CodecError('entries batch is not contiguous');
        entries.push(e);
      }
      rec = { kind: 'entries', entries };
      break;
    }
    case KIND_HARD_STATE:
      rec = { kind: 'hardState', hardState: readHardState(r) };
      break;
    case KIND_SNAPSHOT:
      rec = {
        kind: 'snapshot',
        index: r.u64('snapshot index'),
        term: r.u64('snapshot term'),
        keepFollowing: r.u8('keep flag') === 1,
      };
      break;
    default:
      throw new CodecError(`unknown record kind ${kind}`);
  }
  r.end(`${rec.kind} record`);
  return rec;
}

/** A valid BATCH record: `at` is where the record itself sits, `offset` where its write started. */
export interface BatchMark {
  at: number;
  seq: number;
  offset: number;
  length: number;
}

export interface SegmentScan {
  /** 2 for segments with BATCH records, 1 for the older format; null when the header is unreadable. */
  format: 1 | 2 | null;
  records: JournalRecord[];
  /** Bytes from the start of the file up to the end of the last good record. */
  goodBytes: number;
  /** Set when the file has bytes after goodBytes that are not a valid record. */
  damage: { offset: number; reason: string } | null;
  /** Every valid BATCH record of the file, also those past the damage (found by their magic). */
  marks: BatchMark[];
}

/**
 * Reads a segment file's records up to the first damaged one. A file must open with a HEADER
 * record naming `expectedSeq`, so that a renamed or foreign file is not replayed as ours.
 */
export function scanSegment(buf: Buffer, expectedSeq: number): SegmentScan {
  const records: JournalRecord[] = [];
  const marks: BatchMark[] = [];
  let format: 1 | 2 | null = null;
  let offset = 0;
  while (offset < buf.length) {
    const f = readFrame(buf, offset);
    let reason: string | null = null;
    if (!f.ok) {
      reason = f.reason;
    } else {
      try {
        const rec = decodeRecord(f.payload);
        if (offset === 0 && (rec.kind !== 'header' || rec.seq !== expectedSeq)) {
          reason = `segment does not start with a header for sequence ${expectedSeq}`;
        } else if (offset > 0 && rec.kind === 'header') {
          reason = 'unexpected segment header';
        } else {
          if (rec.kind === 'header') format = rec.format;
          if (rec.kind === 'batch') marks.push({ at: offset, seq: rec.seq, offset: rec.offset, length: rec.length });
          records.push(rec);
          offset = f.next;
          continue;
        }
      } catch (err) {
        if (!(err instanceof CodecError)) throw err;
        reason = `undecodable record: ${err.message}`;
      }
    }
    marks.push(...marksAfter(buf, offset + 1));
    return { format, records, goodBytes: offset, damage: { offset, reason }, marks };
  }
  // A file created just before a crash: without its header it is not a segment yet.
  if (buf.length === 0) {
    return { format, records, goodBytes: 0, damage: { offset: 0, reason: 'empty file' }, marks };
  }
  return { format, records, goodBytes: offset, damage: null, marks };
}

/** Valid BATCH records at or after `from`, located by their magic (the stream is broken before them). */
function marksAfter(buf: Buffer, from: number): BatchMark[] {
  const out: BatchMark[] = [];
  const magicAt = FRAME_HEADER_BYTES + 1;
  for (let i = buf.indexOf(BATCH_MAGIC, from + magicAt); i >= 0; i = buf.indexOf(BATCH_MAGIC, i + 1)) {
    const at = i - magicAt;
    if (at < from) continue;
    const f = readFrame(buf, at);
    if (!f.ok) continue;
    try {
      const rec = decodeRecord(f.payload);
      if (rec.kind === 'batch') out.push({ at, seq: rec.seq, offset: rec.offset, length: rec.length });
    } catch (err) {
      // A CRC-valid frame that does not decode as a batch is not one: keep looking.
      if (!(err instanceof CodecError)) throw err;
    }
  }
  return out;
}
