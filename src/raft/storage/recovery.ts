/**
 * Start-up recovery of the journal: read every segment in order, replay what is intact, and cut
 * the log at the first damaged record — physically, so that new records never follow garbage.
 *
 * Damage with nothing valid after it in the last segment is a torn tail (a write interrupted by
 * a crash; never acknowledged): warn and truncate. Damage followed by valid records, or in a
 * segment that later segments follow, may be media corruption of acknowledged data: we still
 * truncate there (a node with a shorter log is repaired by its leader; one that starts from a
 * log with a hole is not), but log an error and keep the discarded bytes as `*.corrupt` files
 * for inspection.
 */
import { join } from 'node:path';
import type { Entry, HardState, Snapshot } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import { StorageIoError } from './errors.js';
import { fsyncDir, type StorageFs } from './fs.js';
import { scanSegment } from './journal.js';
import { LogReplay } from './replay.js';
import { SNAPSHOT_TEMP_FILE, writeFully } from './snapshot-file.js';

export interface SegmentInfo {
  seq: number;
  path: string;
  /** Durable bytes: where the next record goes. */
  size: number;
  /** Highest entry index ever written to it: the segment may go once a snapshot covers this. */
  maxIndex: number;
  /** Whether the directory entry of this file is known durable. */
  dirSynced: boolean;
}

export interface RecoveredJournal {
  segments: SegmentInfo[];
  nextSeq: number;
  hardState: HardState;
  entries: Entry[];
}

const SEGMENT_NAME = /^(\d{16})\.wal$/;

export function segmentFileName(seq: number): string {
  return `${String(seq).padStart(16, '0')}.wal`;
}

function io<T>(operation: string, file: string, p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    throw new StorageIoError(operation, file, err);
  });
}

export async function loadJournal(
  fsApi: StorageFs,
  dir: string,
  snapshot: Snapshot | null,
  logger: Logger,
): Promise<RecoveredJournal> {
  const names = await io('list', dir, fsApi.readdir(dir));
  let dirChanged = false;
  if (names.includes(SNAPSHOT_TEMP_FILE)) {
    const tmp = join(dir, SNAPSHOT_TEMP_FILE);
    logger.warn(`raft storage: removing ${tmp}, left by a snapshot save that did not finish`);
    await io('remove', tmp, fsApi.unlink(tmp));
    dirChanged = true;
  }
  const seqs = names
    .map((n) => SEGMENT_NAME.exec(n))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);

  const replay = new LogReplay();
  const segments: SegmentInfo[] = [];
  for (let i = 0; i < seqs.length; i++) {
    const seq = seqs[i]!;
    const path = join(dir, segmentFileName(seq));
    const buf = await io('read', path, fsApi.readFile(path));
    const scan = scanSegment(buf, seq);
    let maxIndex = 0;
    for (const rec of scan.records) {
      replay.apply(rec);
      if (rec.kind === 'entries') maxIndex = Math.max(maxIndex, rec.entries[rec.entries.length - 1]!.index);
    }
    if (!scan.damage) {
      segments.push({ seq, path, size: buf.length, maxIndex, dirSynced: true });
      continue;
    }
    const { offset, reason, validDataFollows } = scan.damage;
    const later = seqs.slice(i + 1).map((s) => join(dir, segmentFileName(s)));
    const discarded = buf.length - offset;
    if (later.length === 0 && !validDataFollows) {
      logger.warn(
        `raft storage: ${path}: torn or corrupt record at offset ${offset} (${reason}); ` +
          `truncating the last ${discarded} byte(s), which were never acknowledged`,
      );
    } else {
      logger.error(
        `raft storage: ${path}: corrupt record at offset ${offset} (${reason}) with valid data after it; ` +
          `truncating the log there: ${discarded} byte(s) kept in ${path}.corrupt` +
          (later.length > 0 ? ` and ${later.length} later segment(s) renamed to *.corrupt` : ''),
      );
      await saveCorruptTail(fsApi, `${path}.corrupt`, buf.subarray(offset));
      for (const p of later) await io('rename', p, fsApi.rename(p, `${p}.corrupt`));
    }
    if (scan.goodBytes === 0) {
      await io('remove', path, fsApi.unlink(path));
    } else {
      await cutFile(fsApi, path, scan.goodBytes);
      segments.push({ seq, path, size: scan.goodBytes, maxIndex, dirSynced: true });
    }
    dirChanged = true;
    break;
  }
  if (dirChanged) await io('fsync directory', dir, fsyncDir(fsApi, dir));

  const result = replay.finish(snapshot);
  for (const note of result.notes) {
    if (note.level === 'error') logger.error(`raft storage: ${dir}: ${note.message}`);
    else logger.warn(`raft storage: ${dir}: ${note.message}`);
  }
  return {
    segments,
    nextSeq: (seqs[seqs.length - 1] ?? 0) + 1,
    hardState: result.hardState,
    entries: result.entries,
  };
}

async function cutFile(fsApi: StorageFs, path: string, length: number): Promise<void> {
  const fd = await io('open', path, fsApi.open(path, 'r+'));
  try {
    await io('truncate', path, fsApi.ftruncate(fd, length));
    await io('fdatasync', path, fsApi.fdatasync(fd));
  } finally {
    await fsApi.close(fd).catch(() => undefined);
  }
}

async function saveCorruptTail(fsApi: StorageFs, path: string, bytes: Buffer): Promise<void> {
  const fd = await io('create', path, fsApi.open(path, 'w'));
  try {
    await io('write', path, writeFully(fsApi, fd, bytes, 0));
    await io('fdatasync', path, fsApi.fdatasync(fd));
  } finally {
    await fsApi.close(fd).catch(() => undefined);
  }
}
