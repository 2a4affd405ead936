import type { Entry, EntryType, HardState, Membership, SnapshotMeta } from '../core/types.js';
import { CodecError, Reader, Writer } from './binary.js';

const ENTRY_TYPES: readonly EntryType[] = ['normal', 'config', 'noop'];

export function writeEntry(w: Writer, e: Entry): void {
  w.u64(e.index).u64(e.term).u8(ENTRY_TYPES.indexOf(e.type)).bytes(e.data);
}

export function readEntry(r: Reader): Entry {
  const index = r.u64('entry index');
  const term = r.u64('entry term');
  const typeCode = r.u8('entry type');
  const type = ENTRY_TYPES[typeCode];
  if (type === undefined) throw new CodecError(`unknown entry type ${typeCode}`);
  // Copy so that callers may keep the entry after the source buffer is reused.
  const data = Uint8Array.prototype.slice.call(r.bytes('entry data'));
  return { index, term, type, data };
}

export function writeMembership(w: Writer, m: Membership): void {
  w.strList(m.voters).strList(m.learners);
}

export function readMembership(r: Reader): Membership {
  return { voters: r.strList('voters'), learners: r.strList('learners') };
}

export function encodeMembership(m: Membership): Uint8Array {
  const w = new Writer(64);
  writeMembership(w, m);
  return w.finish();
}

export function decodeMembership(data: Uint8Array): Membership {
  const r = new Reader(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const m = readMembership(r);
  r.end('membership');
  return m;
}

export function writeHardState(w: Writer, hs: HardState): void {
  w.u64(hs.term).optStr(hs.vote).u64(hs.commit);
}

export function readHardState(r: Reader): HardState {
  return { term: r.u64('term'), vote: r.optStr('vote'), commit: r.u64('commit') };
}

export function writeSnapshotMeta(w: Writer, m: SnapshotMeta): void {
  w.u64(m.index).u64(m.term);
  writeMembership(w, m.membership);
}

export function readSnapshotMeta(r: Reader): SnapshotMeta {
  return { index: r.u64('snapshot index'), term: r.u64('snapshot term'), membership: readMembership(r) };
}
