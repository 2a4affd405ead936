/**
 * The journal's segment files as FileStorage appends to them: the active segment (written at its
 * durable end, every write framed by two BATCH records), rotation to a new segment, and deletion
 * of segments a snapshot covers. FileStorage decides what to write and when; this knows where.
 */
import { join } from 'node:path';
import type { HardState } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import { StorageIoError } from './errors.js';
import { fsyncDir, type StorageFs } from './fs.js';
import { BATCH_RECORD_BYTES, encodeBatchMark, encodeHardState, encodeHeader } from './journal.js';
import { segmentFileName, type RecoveredJournal, type SegmentInfo } from './recovery.js';
import { writeFully } from './snapshot-file.js';

/** chunks[0] of every records op: room for its BATCH record, filled in when the write's offset is known. */
export function markSlot(): Buffer {
  return Buffer.alloc(BATCH_RECORD_BYTES);
}

/** A write with nothing but its two BATCH records. */
export const MARKS_ONLY_BYTES = 2 * BATCH_RECORD_BYTES;

export class SegmentWriter {
  private activeFd: number | null = null;
  /** Header, hard state (and snapshot mark) of a new active segment, not yet durable. */
  private activePrefix: Buffer | null = null;
  /** Set while bytes past the active segment's durable size may be garbage from a failed write. */
  private activeDirty = false;
  /** Hard state as of the last durable write: the one a new segment starts with. */
  writtenHardState: HardState;

  private constructor(
    private readonly fs: StorageFs,
    private readonly dir: string,
    private readonly logger: Logger,
    private segments: SegmentInfo[],
    private nextSeq: number,
    hardState: HardState,
    private readonly segmentBytes: number,
  ) {
    this.writtenHardState = hardState;
  }

  static async open(fs: StorageFs, dir: string, logger: Logger, journal: RecoveredJournal, hardState: HardState, segmentBytes: number): Promise<SegmentWriter> {
    const w = new SegmentWriter(fs, dir, logger, journal.segments, journal.nextSeq, hardState, segmentBytes);
    const last = journal.segments[journal.segments.length - 1];
    if (last) {
      w.activeFd = await fs.open(last.path, 'r+').catch((err: unknown) => {
        throw new StorageIoError('open', last.path, err);
      });
    }
    return w;
  }

  get activeSeq(): number | null {
    return this.segments[this.segments.length - 1]?.seq ?? null;
  }

  async close(): Promise<void> {
    // Everything written was fdatasynced already; a close error changes nothing durable.
    if (this.activeFd !== null) await this.fs.close(this.activeFd).catch(() => undefined);
    this.activeFd = null;
  }

  async rotateIfDue(): Promise<void> {
    const active = this.segments[this.segments.length - 1];
    // Never rotate away from a segment with garbage past its durable end: that garbage would
    // read as mid-log corruption at the next start. A format 1 segment is never appended to.
    if (!active || active.format === 1 || (active.size >= this.segmentBytes && !this.activeDirty && !this.activePrefix)) {
      await this.openSegment(null);
    }
  }

  /** Creates the next segment and makes it active; its prefix is written by the next write. */
  async openSegment(extra: Buffer | null): Promise<number> {
    const seq = this.nextSeq;
    const path = join(this.dir, segmentFileName(seq));
    const fd = await this.fs.open(path, 'w').catch((err: unknown) => {
      throw new StorageIoError('create', path, err);
    });
    this.nextSeq++;
    // The previous segment is complete and synced: a close error loses nothing.
    if (this.activeFd !== null) await this.fs.close(this.activeFd).catch(() => undefined);
    this.activeFd = fd;
    this.segments.push({ seq, path, size: 0, maxIndex: 0, dirSynced: false, format: 2 });
    const parts = [encodeHeader(seq), encodeHardState(this.writtenHardState)];
    if (extra) parts.push(extra);
    this.activePrefix = Buffer.concat(parts);
    this.activeDirty = false;
    return seq;
  }

  /**
   * One write + fdatasync at the active segment's durable end. `body` starts and ends with a mark
   * slot: the write's BATCH record goes at both ends, so that a write damaged at one end is still
   * known to be complete from the other (tail.ts). A write of only the marks, with no segment
   * prefix, is skipped. After a failure the same call with the same body rewrites the same bytes.
   */
  async write(body: Buffer, maxIndex: number): Promise<void> {
    const seg = this.segments[this.segments.length - 1]!;
    const fd = this.activeFd!;
    if (!this.activePrefix && body.length === MARKS_ONLY_BYTES) return;
    const length = (this.activePrefix?.length ?? 0) + body.length;
    const mark = encodeBatchMark(seg.seq, seg.size, length);
    mark.copy(body, 0);
    mark.copy(body, body.length - BATCH_RECORD_BYTES);
    const data = this.activePrefix ? Buffer.concat([this.activePrefix, body], length) : body;
    seg.maxIndex = Math.max(seg.maxIndex, maxIndex);
    this.activeDirty = true;
    await writeFully(this.fs, fd, data, seg.size).catch((err: unknown) => {
      throw new StorageIoError('write', seg.path, err);
    });
    await this.fs.fdatasync(fd).catch((err: unknown) => {
      throw new StorageIoError('fdatasync', seg.path, err);
    });
    if (!seg.dirSynced) {
      // A new file's directory entry is durable only once the directory is fsynced.
      await fsyncDir(this.fs, this.dir).catch((err: unknown) => {
        throw new StorageIoError('fsync directory', this.dir, err);
      });
      seg.dirSynced = true;
    }
    seg.size += data.length;
    this.activePrefix = null;
    this.activeDirty = false;
  }

  /**
   * Best effort: a segment that cannot be deleted now is retried after the next snapshot. Only a
   * prefix of the journal goes, oldest first, up to the first segment still needed: a later
   * segment may hold the record that truncated entries of an earlier one, and deleting it while
   * the earlier one stays would bring those entries back at replay. Only segments older than the
   * one holding the SNAPSHOT record go: that one is durable, a newer one may not be yet.
   */
  async dropCoveredBy(index: number, markSegmentSeq: number): Promise<void> {
    const victims: SegmentInfo[] = [];
    for (const seg of this.segments) {
      if (seg.seq >= markSegmentSeq || seg.maxIndex > index) break;
      victims.push(seg);
    }
    if (victims.length === 0) return;
    // Taken out of the list up front: the queue may open new segments while we delete.
    this.segments = this.segments.slice(victims.length);
    let deleted = 0;
    for (const seg of victims) {
      try {
        await this.fs.unlink(seg.path);
        deleted++;
      } catch (err) {
        this.logger.warn(`raft storage: cannot delete compacted segment ${seg.path}: ${(err as Error).message}`);
        break;
      }
    }
    // Keep the prefix property: what could not be deleted, and everything after it, stays.
    if (deleted < victims.length) this.segments = [...victims.slice(deleted), ...this.segments];
    if (deleted > 0) {
      await fsyncDir(this.fs, this.dir).catch((err: unknown) => {
        const reason = (err as Error).message;
        this.logger.warn(`raft storage: cannot fsync ${this.dir} after deleting segments: ${reason}`);
      });
    }
  }
}
