/**
 * Durable Raft storage in a data directory:
 *   snapshot                  the latest snapshot (snapshot-file.ts), replaced atomically
 *   0000000000000001.wal ...  journal segments (journal.ts), append-only, replayed in order
 *
 * Writes are queued in call order and made durable by sync() with group commit: all records
 * queued since the previous write go out in one positional write and one fdatasync; sync() calls
 * made while a write is in flight wait for the next one. A failed write or fdatasync rejects every
 * waiting sync() and leaves the queue as it was, so the next sync() rewrites the same bytes at the
 * same offset (rewriting, not just re-fsyncing: after a failed fsync Linux may have dropped the
 * dirty pages — PostgreSQL's "fsyncgate").
 *
 * Every segment starts with a header and the hard state as of its creation, so that deleting
 * segments covered by a snapshot never loses term and vote. A segment is deleted only when all of
 * its entries are ≤ the snapshot index; replay rules (replay.ts) make any leftover harmless.
 *
 * Snapshots come in two kinds. One that agrees with the log (local compaction, keepFollowing) only
 * makes a prefix of the log redundant, so its file is written and fsynced beside the queue, in
 * parallel with log syncs: it starts once everything queued before it is durable (so a crash
 * always leaves a state the caller built), and only when the file is durable does its SNAPSHOT
 * record enter the queue, followed by deleting covered segments. Records queued meanwhile need not
 * wait: until that record exists, replay keeps the whole log, which still agrees with either
 * snapshot file. One that replaces a conflicting log (from the leader) is a barrier: everything
 * queued after it waits, since those records are only valid on top of it. Snapshot files are
 * written one at a time, in call order (fileLane).
 */
import { join } from 'node:path';
import type { Entry, HardState, Snapshot } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import type { LoadedState, RaftStorage } from './types.js';
import { StorageIoError } from './errors.js';
import { fsyncDir, nodeFs, type StorageFs } from './fs.js';
import { encodeEntries, encodeHardState, encodeHeader, encodeSnapshotMark } from './journal.js';
import { readSnapshotFile, writeFully, writeSnapshotFile } from './snapshot-file.js';
import { TermIndex } from './term-index.js';
import { INITIAL_HARD_STATE } from './replay.js';
import { loadJournal, segmentFileName, type SegmentInfo } from './recovery.js';

export interface FileStorageOptions {
  /** File-system layer; tests inject faults here. Default: node:fs. */
  fs?: StorageFs;
  /** Start a new segment once the active one holds this many bytes (default 64 MiB). */
  segmentBytes?: number;
}

interface RecordsOp {
  kind: 'records';
  seq: number;
  chunks: Buffer[];
  bytes: number;
  maxIndex: number;
  hardState: HardState | null;
  inFlight: boolean;
}

interface SnapshotOp {
  kind: 'snapshot';
  seq: number;
  snapshot: Snapshot;
  keepFollowing: boolean;
  fileWritten: boolean;
  segmentSeq: number | null;
}

type Op = RecordsOp | SnapshotOp;

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A keep-following snapshot whose file is not durable yet (written beside the log queue). */
interface SnapshotJob {
  snapshot: Snapshot;
  /** Queue position that must be durable before the file is written. */
  after: number;
  state: 'waiting' | 'writing' | 'failed';
  /** The current attempt: resolves with the seq of the queued SNAPSHOT record, or rejects. */
  attempt: Promise<number>;
  settle: { resolve: (seq: number) => void; reject: (err: unknown) => void };
}

const EMPTY = Buffer.alloc(0);

export class FileStorage implements RaftStorage {
  readonly inMemory = false;
  private readonly fs: StorageFs;
  private readonly segmentBytes: number;
  private state: 'new' | 'open' | 'closed' = 'new';
  private segments: SegmentInfo[] = [];
  private activeFd: number | null = null;
  /** Header, hard state (and snapshot mark) of a new active segment, not yet durable. */
  private activePrefix: Buffer | null = null;
  /** Set while bytes past the active segment's durable size may be garbage from a failed write. */
  private activeDirty = false;
  private nextSeq = 1;
  /** Hard state as of the last durable op: the one a new segment starts with. */
  private writtenHardState: HardState = INITIAL_HARD_STATE;
  private readonly terms = new TermIndex();
  private queue: Op[] = [];
  private queuedSeq = 0;
  private durableSeq = 0;
  private waiters: Waiter[] = [];
  private draining: Promise<void> | null = null;
  /** Keep-following snapshots not yet in the queue, in call order. */
  private jobs: SnapshotJob[] = [];
  /** Serialises snapshot-file writes and segment deletion (both touch files the queue does not). */
  private fileLane: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataDir: string,
    private readonly logger: Logger,
    options: FileStorageOptions = {},
  ) {
    this.fs = options.fs ?? nodeFs;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
  }

  async load(): Promise<LoadedState> {
    if (this.state !== 'new') throw new Error('FileStorage.load() may be called once, before any write');
    await this.fs.mkdir(this.dataDir).catch((err: unknown) => {
      throw new StorageIoError('create directory', this.dataDir, err);
    });
    const snapshot = await readSnapshotFile(this.fs, this.dataDir);
    const journal = await loadJournal(this.fs, this.dataDir, snapshot, this.logger);
    this.segments = journal.segments;
    this.nextSeq = journal.nextSeq;
    this.writtenHardState = journal.hardState;
    const last = this.segments[this.segments.length - 1];
    if (last) {
      this.activeFd = await this.fs.open(last.path, 'r+').catch((err: unknown) => {
        throw new StorageIoError('open', last.path, err);
      });
    }
    this.terms.reset(snapshot?.meta.index ?? 0, snapshot?.meta.term ?? 0, journal.entries);
    this.state = 'open';
    const range = journal.entries.length > 0 ? `${this.terms.firstIndex}..${this.terms.lastIndex}` : 'none';
    this.logger.info(
      `raft storage: loaded ${this.dataDir}: snapshot index ${snapshot?.meta.index ?? 'none'}, entries ${range}, ` +
        `term ${journal.hardState.term}, ${this.segments.length} segment(s)`,
    );
    return { hardState: journal.hardState, snapshot, entries: journal.entries };
  }

  append(entries: Entry[]): void {
    this.assertOpen();
    if (entries.length === 0) return;
    this.terms.append(entries);
    this.enqueue(encodeEntries(entries), entries[entries.length - 1]!.index, null);
  }

  setHardState(hardState: HardState): void {
    this.assertOpen();
    this.enqueue(encodeHardState(hardState), 0, { ...hardState });
  }

  sync(): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`raft storage ${this.dataDir} is not open`));
    // A snapshot whose file failed is retried by the next sync, beside it (nothing here waits for it).
    for (const job of this.jobs) if (job.state === 'failed') this.startJob(job);
    return this.waitFor(this.queuedSeq);
  }

  /**
   * Takes effect in call order: appends made after this call land after the snapshot. A snapshot
   * that replaces a conflicting log holds back everything queued after it until it is durable;
   * one that agrees with the log does not (see the header). When it rejects, the next sync()
   * retries it, so the journal never holds later writes without a snapshot they were made on top of.
   */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    this.assertOpen();
    const { index, term } = snapshot.meta;
    if (index < this.terms.firstIndex - 1) {
      const stored = this.terms.firstIndex - 1;
      return Promise.reject(new Error(`snapshot at index ${index} is older than the stored one (${stored})`));
    }
    // Decided now, against the log as the caller has built it so far, so that the mark means
    // the same thing however many appends are queued behind it.
    const keepFollowing = this.terms.termAt(index) === term;
    if (keepFollowing) this.terms.compactTo(index);
    else this.terms.reset(index, term);
    // A failed older snapshot is superseded: its retry would only be overwritten.
    this.jobs = this.jobs.filter((j) => j.state !== 'failed');
    if (!keepFollowing) {
      const seq = ++this.queuedSeq;
      this.queue.push({ kind: 'snapshot', seq, snapshot, keepFollowing, fileWritten: false, segmentSeq: null });
      return this.waitFor(seq).then(() => this.fileLane);
    }
    const job = { snapshot, after: this.queuedSeq, state: 'waiting' } as SnapshotJob;
    this.jobs.push(job);
    this.startJob(job);
    // Resolves after the covered segments are gone too (fileLane: deletion is queued there).
    return job.attempt.then((seq) => this.waitFor(seq)).then(() => this.fileLane);
  }

  async close(): Promise<void> {
    if (this.state !== 'open') {
      this.state = 'closed';
      return;
    }
    try {
      await this.sync();
      // Snapshots still being written: wait for their files, then for their SNAPSHOT records.
      const pending = this.jobs.map((j) => j.attempt);
      if (pending.length > 0) {
        await Promise.all(pending);
        await this.sync();
      }
    } finally {
      await this.draining;
      await this.fileLane;
      this.state = 'closed';
      if (this.activeFd !== null) await this.fs.close(this.activeFd).catch(() => undefined);
      this.activeFd = null;
    }
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(`raft storage ${this.dataDir} is not open (call load() first)`);
  }

  /** Resolves once every op up to `target` is durable; rejects when a write on the way fails. */
  private waitFor(target: number): Promise<void> {
    if (target <= this.durableSeq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      this.kick();
    });
  }

  /** (Re)starts a keep-following snapshot: its file once `after` is durable, then its record. */
  private startJob(job: SnapshotJob): void {
    job.state = 'waiting';
    job.attempt = new Promise<number>((resolve, reject) => (job.settle = { resolve, reject }));
    // Retries (and close()) may have nobody else listening.
    job.attempt.catch(() => undefined);
    if (job.after <= this.durableSeq) {
      this.writeJobFile(job);
      return;
    }
    // Called synchronously by drain() the moment `after` is durable, so that a barrier snapshot
    // queued later always finds this file write ahead of its own on the lane.
    this.waiters.push({ target: job.after, resolve: () => this.writeJobFile(job), reject: (err) => this.failJob(job, err) });
    this.kick();
  }

  private writeJobFile(job: SnapshotJob): void {
    if (!this.jobs.includes(job) || job.state !== 'waiting') return;
    job.state = 'writing';
    this.onFileLane(() => writeSnapshotFile(this.fs, this.dataDir, job.snapshot)).then(
      () => {
        this.jobs = this.jobs.filter((j) => j !== job);
        const seq = ++this.queuedSeq;
        this.queue.push({ kind: 'snapshot', seq, snapshot: job.snapshot, keepFollowing: true, fileWritten: true, segmentSeq: null });
        job.settle.resolve(seq);
      },
      (err: unknown) => this.failJob(job, err),
    );
  }

  private failJob(job: SnapshotJob, err: unknown): void {
    job.state = 'failed';
    job.settle.reject(err);
  }

  /** Runs `task` after every file task queued before it; the lane itself never rejects. */
  private onFileLane<T>(task: () => Promise<T>): Promise<T> {
    const run = this.fileLane.then(task);
    this.fileLane = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private enqueue(record: Buffer, maxIndex: number, hardState: HardState | null): void {
    const tail = this.queue[this.queue.length - 1];
    if (tail && tail.kind === 'records' && !tail.inFlight) {
      tail.chunks.push(record);
      tail.bytes += record.length;
      tail.maxIndex = Math.max(tail.maxIndex, maxIndex);
      if (hardState) tail.hardState = hardState;
      tail.seq = ++this.queuedSeq;
      return;
    }
    const seq = ++this.queuedSeq;
    this.queue.push({ kind: 'records', seq, chunks: [record], bytes: record.length, maxIndex, hardState, inFlight: false });
  }

  private kick(): void {
    if (this.draining || this.waiters.length === 0) return;
    // Re-kick on exit: a waiter's continuation may call sync() after the loop's last check.
    this.draining = this.drain().finally(() => {
      this.draining = null;
      this.kick();
    });
  }

  /** Writes queued ops in order while someone waits; one write + one fdatasync per records op. */
  private async drain(): Promise<void> {
    while (this.waiters.length > 0) {
      const op = this.queue[0];
      if (!op) break;
      try {
        if (op.kind === 'records') await this.writeRecords(op);
        else await this.writeSnapshot(op);
      } catch (err) {
        // Everything queued after the failed op depends on it: fail all waiters, keep the
        // queue for the next sync() to retry, and do not spin on a full disk.
        const failed = this.waiters;
        this.waiters = [];
        for (const w of failed) w.reject(err);
        break;
      }
      this.queue.shift();
      this.durableSeq = op.seq;
      const ready = this.waiters.filter((w) => w.target <= this.durableSeq);
      this.waiters = this.waiters.filter((w) => w.target > this.durableSeq);
      for (const w of ready) w.resolve();
    }
  }

  private async writeRecords(op: RecordsOp): Promise<void> {
    op.inFlight = true;
    try {
      if (op.chunks.length > 1) op.chunks = [Buffer.concat(op.chunks, op.bytes)];
      const active = this.segments[this.segments.length - 1];
      // Never rotate away from a segment with garbage past its durable end: that garbage would
      // read as mid-log corruption at the next start.
      if (!active || (active.size >= this.segmentBytes && !this.activeDirty && !this.activePrefix)) {
        await this.openSegment(null);
      }
      await this.writeToActive(op.chunks[0]!, op.maxIndex);
      if (op.hardState) this.writtenHardState = op.hardState;
    } finally {
      op.inFlight = false;
    }
  }

  private async writeSnapshot(op: SnapshotOp): Promise<void> {
    const { index, term } = op.snapshot.meta;
    if (!op.fileWritten) {
      await this.onFileLane(() => writeSnapshotFile(this.fs, this.dataDir, op.snapshot));
      op.fileWritten = true;
    }
    const active = this.segments[this.segments.length - 1];
    if (op.segmentSeq === null || active?.seq !== op.segmentSeq) {
      await this.openSegment(encodeSnapshotMark(index, term, op.keepFollowing));
      op.segmentSeq = this.segments[this.segments.length - 1]!.seq;
    }
    await this.writeToActive(EMPTY, 0);
    // The SNAPSHOT record is durable: covered segments are dead weight, deleted beside the queue.
    const markSeq = op.segmentSeq;
    void this.onFileLane(() => this.dropSegmentsCoveredBy(index, markSeq));
  }

  /** Creates the next segment and makes it active; its prefix is written by the next write. */
  private async openSegment(extra: Buffer | null): Promise<void> {
    const seq = this.nextSeq;
    const path = join(this.dataDir, segmentFileName(seq));
    const fd = await this.fs.open(path, 'w').catch((err: unknown) => {
      throw new StorageIoError('create', path, err);
    });
    this.nextSeq++;
    if (this.activeFd !== null) await this.fs.close(this.activeFd).catch(() => undefined);
    this.activeFd = fd;
    this.segments.push({ seq, path, size: 0, maxIndex: 0, dirSynced: false });
    const parts = [encodeHeader(seq), encodeHardState(this.writtenHardState)];
    if (extra) parts.push(extra);
    this.activePrefix = Buffer.concat(parts);
    this.activeDirty = false;
  }

  private async writeToActive(body: Buffer, maxIndex: number): Promise<void> {
    const seg = this.segments[this.segments.length - 1]!;
    const fd = this.activeFd!;
    const data = this.activePrefix ? Buffer.concat([this.activePrefix, body]) : body;
    if (data.length === 0) return;
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
      await fsyncDir(this.fs, this.dataDir).catch((err: unknown) => {
        throw new StorageIoError('fsync directory', this.dataDir, err);
      });
      seg.dirSynced = true;
    }
    seg.size += data.length;
    this.activePrefix = null;
    this.activeDirty = false;
  }

  /**
   * Best effort: a segment that cannot be deleted now is retried after the next snapshot. Only
   * segments older than the one holding the SNAPSHOT record go: that one is durable and starts with
   * the hard state as of its creation, while a newer segment may not be durable yet.
   */
  private async dropSegmentsCoveredBy(index: number, markSegmentSeq: number): Promise<void> {
    // Taken out of the list up front: the queue may open new segments while we delete.
    const victims = this.segments.filter((seg) => seg.seq < markSegmentSeq && seg.maxIndex <= index);
    if (victims.length === 0) return;
    this.segments = this.segments.filter((seg) => !victims.includes(seg));
    const kept: SegmentInfo[] = [];
    for (const seg of victims) {
      try {
        await this.fs.unlink(seg.path);
      } catch (err) {
        this.logger.warn(`raft storage: cannot delete compacted segment ${seg.path}: ${(err as Error).message}`);
        kept.push(seg);
      }
    }
    if (kept.length > 0) this.segments = [...kept, ...this.segments].sort((a, b) => a.seq - b.seq);
    if (kept.length < victims.length) {
      await fsyncDir(this.fs, this.dataDir).catch((err: unknown) => {
        const reason = (err as Error).message;
        this.logger.warn(`raft storage: cannot fsync ${this.dataDir} after deleting segments: ${reason}`);
      });
    }
  }
}
