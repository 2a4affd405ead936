/**
 * Is damage in the journal a torn write (safe to cut) or corruption (refuse to start)? Pure.
 *
 * A torn write is the tail of the LAST write, cut by a crash before its fdatasync returned, so
 * nothing in it was acknowledged. Evidence, in this order:
 * 1. A BATCH record of a later write (offset > damage) proves the damaged bytes were durable
 *    before that write began, hence possibly acknowledged: corruption.
 * 2. The write holding the damage is known from one of its two BATCH records (start offset and
 *    length; one at each end, so damage at one end leaves the other). If the file ends before
 *    that write does, the write never completed: torn.
 * 3. Otherwise every byte of the write reached the file, and a crash can only have left whole
 *    sectors unwritten, which read back as zeros (the journal only appends, so the space was
 *    fresh): torn when a sector-aligned chunk of the damaged part is all zeros (etcd's rule),
 *    corruption (a flipped bit, a scribbled sector) when none is.
 * 4. When neither BATCH record of the holding write can be read (the write was cut before its
 *    end, and its first record is damaged too): torn when the damaged record runs past the end
 *    of the file or the rest of the file holds a zero chunk. Only two separate damages, one at each end of the last
 *    write, can make a complete write look torn.
 */
import { FRAME_HEADER_BYTES, MAX_RECORD_BYTES, type SegmentScan } from './journal.js';

const SECTOR_BYTES = 512;
/** A zero run shorter than this within one sector proves nothing (integers have zero bytes). */
const MIN_ZERO_CHUNK_BYTES = 32;

export type TailVerdict = { kind: 'torn'; cutAt: number; why: string } | { kind: 'corrupt'; offset: number; reason: string };

export function judgeDamage(buf: Buffer, scan: SegmentScan, seq: number): TailVerdict {
  const damage = scan.damage;
  if (damage === null) throw new Error('judgeDamage called without damage');
  const at = damage.offset;
  const corrupt = (reason: string): TailVerdict => ({ kind: 'corrupt', offset: at, reason: `${damage.reason}; ${reason}` });
  const marks = scan.marks.filter((m) => m.seq === seq && m.offset <= m.at && m.at < m.offset + m.length);
  const later = marks.filter((m) => m.offset > at);
  if (later.length > 0) {
    const synced = Math.max(...later.map((m) => m.offset));
    return corrupt(`a later write at offset ${synced} proves these bytes were already synced`);
  }
  const holding = marks.filter((m) => m.offset <= at).sort((a, b) => b.offset - a.offset)[0];
  if (holding !== undefined && at < holding.offset + holding.length) {
    const end = holding.offset + holding.length;
    if (buf.length < end) return { kind: 'torn', cutAt: at, why: `the write at offset ${holding.offset} (${holding.length} bytes) ends past the end of the file` };
    if (hasZeroChunk(buf, at, end)) return { kind: 'torn', cutAt: at, why: `the write at offset ${holding.offset} has sectors that never reached the disk` };
    return corrupt(`the whole write at offset ${holding.offset} (${holding.length} bytes) reached the file, so this is not a torn write`);
  }
  // The damaged record starts a write whose BATCH record we cannot read.
  if (buf.length - at < FRAME_HEADER_BYTES) return { kind: 'torn', cutAt: at, why: 'a record header cut short by the end of the file' };
  const length = buf.readUInt32BE(at);
  const end = at + FRAME_HEADER_BYTES + length;
  if (length === 0 && isZero(buf, at, Math.min(buf.length, at + FRAME_HEADER_BYTES))) {
    return { kind: 'torn', cutAt: at, why: 'zeros where the next record would start' };
  }
  if (length > MAX_RECORD_BYTES || end > buf.length) return { kind: 'torn', cutAt: at, why: 'a record that runs past the end of the file' };
  // No BATCH record after the damage: everything from here to the end belongs to the last write.
  if (hasZeroChunk(buf, at, buf.length)) return { kind: 'torn', cutAt: at, why: 'the last write has sectors that never reached the disk' };
  return corrupt('the record is complete in length and nothing after it is missing, so this is not a torn write');
}

/** Whether some sector-aligned chunk of [from, to) of at least MIN_ZERO_CHUNK_BYTES is all zeros. */
export function hasZeroChunk(buf: Buffer, from: number, to: number): boolean {
  const end = Math.min(to, buf.length);
  for (let a = from; a < end; ) {
    const b = Math.min(end, (Math.floor(a / SECTOR_BYTES) + 1) * SECTOR_BYTES);
    if (b - a >= MIN_ZERO_CHUNK_BYTES && isZero(buf, a, b)) return true;
    a = b;
  }
  return false;
}

function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}
