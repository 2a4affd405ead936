/**
 * Start-up recovery of the journal: read every segment in order and replay it. The only repair
 * made is cutting a torn write off the end of the newest segment (tail.ts decides, from what was
 * synced, that it is one); any other damage — in an older segment, before the last synced
 * offset, a complete write with a bad checksum, a log that no longer reaches the snapshot — throws
 * StorageCorruptError naming the file and offset, and the member refuses to start. Cutting there
 * and going on, as format 1 did, could throw away acknowledged entries and let the member vote
 * as if it never had them.
 *
 * Format 1 segments (no BATCH records) cannot tell a torn write from corruption, so any damage in
 * one refuses too; a clean format 1 journal is read as is (the migration in file-storage.ts).
 */
import { join } from 'node:path';
import type { Entry, HardState, Snapshot } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import { StorageCorruptError, StorageIoError } from './errors.js';
import { fsyncDir, type StorageFs } from './fs.js';
import { scanSegment } from './journal.js';
import { LogReplay } from './replay.js';
import { SNAPSHOT_TEMP_FILE } from './snapshot-file.js';
import { judgeDamage } from './tail.js';

export interface SegmentInfo {
  seq: number;
  path: string;
  /** Durable bytes: where the next record goes. */
  size: number;
  /** Highest entry index ever written to it: the segment may go once a snapshot covers this. */
  maxIndex: number;
  /** Whether the directory entry of this file is known durable. */
  dirSynced: boolean;
  /** 1 for a segment written before BATCH records existed: never appended to again. */
  format: 1 | 2;
}

export interface RecoveredJournal {
  segments: SegmentInfo[];
  nextSeq: number;
  /** The last HARD_STATE record (term and vote in it are evidence; the voter file decides). */
  hardState: HardState;
  entries: Entry[];
  /** Highest term of any stored entry or of the snapshot. */
  maxTerm: number;
  /** Some segment is in format 1. */
  legacy: boolean;
}

const SEGMENT_NAME = /^(\d{16})\.wal$/;

export function segmentFileName(seq: number): string {
  return `${String(seq).padStart(16, '0')}.wal`;
}

/** Sequence numbers of the segment files in `names`, ascending. */
export function segmentSeqs(names: readonly string[]): number[] {
  return names
    .map((n) => SEGMENT_NAME.exec(n))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

function io<T>(operation: string, file: string, p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    throw new StorageIoError(operation, file, err);
  });
}

export async function loadJournal(fsApi: StorageFs, dir: string, snapshot: Snapshot | null, logger: Logger): Promise<RecoveredJournal> {
  const names = await io('list', dir, fsApi.readdir(dir));
  let dirChanged = false;
  if (names.includes(SNAPSHOT_TEMP_FILE)) {
    // Written and synced before its rename, so a leftover was never installed (nor acknowledged).
    const tmp = join(dir, SNAPSHOT_TEMP_FILE);
    logger.warn(`raft storage: removing ${tmp}, left by a snapshot save that did not finish`);
    await io('remove', tmp, fsApi.unlink(tmp));
    dirChanged = true;
  }
  const seqs = segmentSeqs(names);
  const replay = new LogReplay();
  const segments: SegmentInfo[] = [];
  let legacy = false;
  for (let i = 0; i < seqs.length; i++) {
    const seq = seqs[i]!;
    const path = join(dir, segmentFileName(seq));
    const buf = await io('read', path, fsApi.readFile(path));
    const scan = scanSegment(buf, seq);
    const last = i === seqs.length - 1;
    let size = buf.length;
    if (scan.damage !== null) {
      const { offset, reason } = scan.damage;
      if (!last) {
        throw new StorageCorruptError(`${path}: damaged record at offset ${offset} (${reason}) in a segment that later segments follow`, path, offset, dir);
      }
      if (scan.format === 1) {
        throw new StorageCorruptError(
          `${path}: damaged record at offset ${offset} (${reason}) in a journal written by an older hactl, which did not record what was synced`,
          path,
          offset,
          dir,
        );
      }
      const verdict = judgeDamage(buf, scan, seq);
      if (verdict.kind === 'corrupt') throw new StorageCorruptError(`${path}: damaged record at offset ${verdict.offset} (${verdict.reason})`, path, verdict.offset, dir);
      logger.warn(
        `raft storage: ${path}: torn write at offset ${verdict.cutAt} (${verdict.why}); ` +
          `cutting the last ${buf.length - verdict.cutAt} byte(s), which were never acknowledged`,
      );
      size = scan.goodBytes;
      dirChanged = true;
      if (size === 0) {
        await io('remove', path, fsApi.unlink(path));
      } else {
        await cutFile(fsApi, path, size);
      }
    }
    let maxIndex = 0;
    for (const rec of scan.records) {
      replay.apply(rec);
      if (rec.kind === 'entries') maxIndex = Math.max(maxIndex, rec.entries[rec.entries.length - 1]!.index);
    }
    if (scan.format === 1) legacy = true;
    if (size > 0) segments.push({ seq, path, size, maxIndex, dirSynced: true, format: scan.format ?? 2 });
  }
  if (dirChanged) await io('fsync directory', dir, fsyncDir(fsApi, dir));

  const result = replay.finish(snapshot);
  if (result.problem !== null) throw new StorageCorruptError(`${dir}: ${result.problem}`, dir, null, dir);
  for (const note of result.notes) {
    if (note.level === 'error') logger.error(`raft storage: ${dir}: ${note.message}`);
    else logger.warn(`raft storage: ${dir}: ${note.message}`);
  }
  return {
    segments,
    nextSeq: (seqs[seqs.length - 1] ?? 0) + 1,
    hardState: result.hardState,
    entries: result.entries,
    maxTerm: result.maxTerm,
    legacy,
  };
}

async function cutFile(fsApi: StorageFs, path: string, length: number): Promise<void> {
  const fd = await io('open', path, fsApi.open(path, 'r+'));
  try {
    await io('truncate', path, fsApi.ftruncate(fd, length));
    await io('fdatasync', path, fsApi.fdatasync(fd));
  } finally {
    // The cut is durable once fdatasync returned; a close error cannot undo it.
    await fsApi.close(fd).catch(() => undefined);
  }
}
