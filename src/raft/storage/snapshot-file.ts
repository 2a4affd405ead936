/**
 * The snapshot file: one framed record (see journal.ts) holding magic, meta and data. Replaced
 * atomically: write `snapshot.tmp`, fdatasync, rename over `snapshot`, fsync the directory. A
 * leftover temp file is a snapshot that was never installed; load() removes it.
 */
import { join } from 'node:path';
import type { Snapshot } from '../core/types.js';
import { CodecError, Reader, Writer } from '../codec/binary.js';
import { readSnapshotMeta, writeSnapshotMeta } from '../codec/entry.js';
import { StorageCorruptError, StorageIoError } from './errors.js';
import { fsyncDir, type StorageFs } from './fs.js';
import { frame, readFrame } from './journal.js';

export const SNAPSHOT_FILE = 'snapshot';
export const SNAPSHOT_TEMP_FILE = 'snapshot.tmp';
const SNAPSHOT_MAGIC = 0x48534e31; // "HSN1"

export function encodeSnapshot(s: Snapshot): Buffer {
  const w = new Writer(s.data.length + 256).u32(SNAPSHOT_MAGIC);
  writeSnapshotMeta(w, s.meta);
  w.bytes(s.data);
  return frame(w.finish());
}

export function decodeSnapshot(buf: Buffer, file: string, dir: string | null = null): Snapshot {
  const f = readFrame(buf, 0);
  if (!f.ok) throw new StorageCorruptError(`snapshot ${file} is damaged (${f.reason})`, file, 0, dir);
  if (f.next !== buf.length) {
    throw new StorageCorruptError(`snapshot ${file} has ${buf.length - f.next} trailing bytes`, file, f.next, dir);
  }
  try {
    const r = new Reader(f.payload);
    const magic = r.u32('snapshot magic');
    if (magic !== SNAPSHOT_MAGIC) throw new CodecError(`bad magic 0x${magic.toString(16)}`);
    const meta = readSnapshotMeta(r);
    const data = Uint8Array.prototype.slice.call(r.bytes('snapshot data'));
    r.end('snapshot');
    return { meta, data };
  } catch (err) {
    if (err instanceof CodecError) throw new StorageCorruptError(`snapshot ${file} cannot be decoded: ${err.message}`, file, 0, dir);
    throw err;
  }
}

/** Writes all of `data` at `position`, looping over short writes. */
export async function writeFully(fsApi: StorageFs, fd: number, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    done += await fsApi.write(fd, data, done, data.length - done, position + done);
  }
}

/** Durable when it resolves; on failure the previous snapshot file is untouched. */
export async function writeSnapshotFile(fsApi: StorageFs, dir: string, s: Snapshot): Promise<void> {
  const tmp = join(dir, SNAPSHOT_TEMP_FILE);
  const target = join(dir, SNAPSHOT_FILE);
  const bytes = encodeSnapshot(s);
  let fd: number;
  try {
    fd = await fsApi.open(tmp, 'w');
  } catch (err) {
    throw new StorageIoError('create', tmp, err);
  }
  try {
    await writeFully(fsApi, fd, bytes, 0).catch((err: unknown) => {
      throw new StorageIoError('write', tmp, err);
    });
    await fsApi.fdatasync(fd).catch((err: unknown) => {
      throw new StorageIoError('fdatasync', tmp, err);
    });
  } catch (err) {
    // A half-written temp file only wastes space, and space may be exactly what ran out.
    await fsApi.close(fd).catch(() => undefined);
    await fsApi.unlink(tmp).catch(() => undefined);
    throw err;
  }
  // The data is already fdatasync'ed: a failed close loses nothing and leaks one descriptor at most.
  await fsApi.close(fd).catch(() => undefined);
  await fsApi.rename(tmp, target).catch((err: unknown) => {
    throw new StorageIoError(`rename to ${target}`, tmp, err);
  });
  await fsyncDir(fsApi, dir).catch((err: unknown) => {
    throw new StorageIoError('fsync directory', dir, err);
  });
}

export async function readSnapshotFile(fsApi: StorageFs, dir: string): Promise<Snapshot | null> {
  const file = join(dir, SNAPSHOT_FILE);
  let buf: Buffer;
  try {
    buf = await fsApi.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StorageIoError('read', file, err);
  }
  return decodeSnapshot(buf, file, dir);
}
