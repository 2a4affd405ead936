/**
 * Durable Raft storage in a data directory:
 *   voter                     term, vote and recovery state, two checksummed copies (voter-file.ts)
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
 * A hard state whose term or vote changed is written to the voter file before the journal write
 * of the same batch (both are durable before sync() resolves); the journal's HARD_STATE records
 * carry the commit index. Every write to a segment starts with a BATCH record (its offset and
 * length) so that recovery can tell a torn last write from damage to synced data (tail.ts).
 * A segment is deleted only when all of its entries are ≤ the snapshot index; replay rules
 * (replay.ts) make any leftover harmless.
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
import type { Entry, HardState, Snapshot } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import type { LoadedState, RaftStorage } from './types.js';
import { StorageIoError } from './errors.js';
import { nodeFs, type StorageFs } from './fs.js';
import { BATCH_RECORD_BYTES, encodeEntries, encodeHardState, encodeSnapshotMark } from './journal.js';
import { writeSnapshotFile } from './snapshot-file.js';
import { TermIndex } from './term-index.js';
import { openDataDir } from './data-dir.js';
import { markSlot, MARKS_ONLY_BYTES, SegmentWriter } from './segment-writer.js';
import type { RecoveryState, VoterFile, VoterState } from './voter-file.js';

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
  /** Term, vote or recovery changed: the voter file is written before this op's journal bytes. */
  voter: VoterState | null;
  /**
   * Set once its write was tried: nothing more is merged into it, so a retry after a failure
   * writes exactly the same bytes at the same offset (a torn mix of two attempts must read as
   * torn, never as a complete record with a bad checksum).
   */
  attempted: boolean;
}

interface SnapshotOp {
  kind: 'snapshot';
  seq: number;
  snapshot: Snapshot;
  keepFollowing: boolean;
  call: number;
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
  /** Order of the saveSnapshot() call: a file may only be replaced by a later call's. */
  call: number;
  /** Queue position that must be durable before the file is written. */
  after: number;
  state: 'waiting' | 'writing' | 'failed';
  /** The current attempt: resolves with the seq of the queued SNAPSHOT record, or rejects. */
  attempt: Promise<number>;
  settle: { resolve: (seq: number) => void; reject: (err: unknown) => void };
}


export class FileStorage implements RaftStorage {
  readonly inMemory = false;
  private readonly fs: StorageFs;
  private readonly segmentBytes: number;
  private state: 'new' | 'open' | 'closed' = 'new';
  private journal!: SegmentWriter;
  private readonly terms = new TermIndex();
  private voter: VoterFile | null = null;
  /** Voter state as of the last queued op (what the next change is compared with). */
  private queuedVoter: VoterState = { term: 0, vote: null, recovery: null };
  private queue: Op[] = [];
  private queuedSeq = 0;
  private durableSeq = 0;
  private waiters: Waiter[] = [];
  private draining: Promise<void> | null = null;
  /** Keep-following snapshots not yet in the queue, in call order. */
  private jobs: SnapshotJob[] = [];
  private snapshotCalls = 0;
  /** Call number of the newest snapshot file written: an older call's file must never follow it. */
  private newestFileCall = 0;
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
    const { snapshot, journal, voter, hardState, recovery } = await openDataDir(this.fs, this.dataDir, this.logger);
    this.voter = voter;
    this.queuedVoter = { term: hardState.term, vote: hardState.vote, recovery };
    this.journal = await SegmentWriter.open(this.fs, this.dataDir, this.logger, journal, hardState, this.segmentBytes);
    this.terms.reset(snapshot?.meta.index ?? 0, snapshot?.meta.term ?? 0, journal.entries);
    this.state = 'open';
    const range = journal.entries.length > 0 ? `${this.terms.firstIndex}..${this.terms.lastIndex}` : 'none';
    this.logger.info(
      `raft storage: loaded ${this.dataDir}: snapshot index ${snapshot?.meta.index ?? 'none'}, entries ${range}, ` +
        `term ${hardState.term}, ${journal.segments.length} segment(s)` + (recovery ? ', recovering (not voting until caught up)' : ''),
    );
    return { hardState, snapshot, entries: journal.entries, recovery };
  }

  append(entries: Entry[]): void {
    this.assertOpen();
    if (entries.length === 0) return;
    this.terms.append(entries);
    this.enqueue(encodeEntries(entries), entries[entries.length - 1]!.index, null, null);
  }

  setHardState(hardState: HardState): void {
    this.assertOpen();
    const q = this.queuedVoter;
    const voter = hardState.term !== q.term || hardState.vote !== q.vote ? { term: hardState.term, vote: hardState.vote, recovery: q.recovery } : null;
    if (voter) this.queuedVoter = voter;
    this.enqueue(encodeHardState(hardState), 0, { ...hardState }, voter);
  }

  setRecovery(recovery: RecoveryState | null): void {
    this.assertOpen();
    this.queuedVoter = { ...this.queuedVoter, recovery: recovery ? { ...recovery } : null };
    this.enqueue(null, 0, null, this.queuedVoter);
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
    const call = ++this.snapshotCalls;
    if (!keepFollowing) {
      const seq = ++this.queuedSeq;
      this.queue.push({ kind: 'snapshot', seq, snapshot, keepFollowing, call, fileWritten: false, segmentSeq: null });
      return this.waitFor(seq).then(() => this.fileLane);
    }
    const job = { snapshot, call, after: this.queuedSeq, state: 'waiting' } as SnapshotJob;
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
      await this.journal.close();
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
    // Checked when the lane gets to it: a retried older snapshot must not replace a newer file
    // (its SNAPSHOT record may already have let the covered segments go).
    this.onFileLane(async () => {
      if (job.call < this.newestFileCall) return false;
      await writeSnapshotFile(this.fs, this.dataDir, job.snapshot);
      this.fileWritten(job.call);
      return true;
    }).then(
      (written) => {
        this.jobs = this.jobs.filter((j) => j !== job);
        if (!written) {
          job.settle.resolve(0); // superseded: the newer snapshot covers what this one would
          return;
        }
        const seq = ++this.queuedSeq;
        this.queue.push({ kind: 'snapshot', seq, snapshot: job.snapshot, keepFollowing: true, call: job.call, fileWritten: true, segmentSeq: null });
        job.settle.resolve(seq);
      },
      (err: unknown) => this.failJob(job, err),
    );
  }

  /** A snapshot file of call `call` is durable: older jobs still pending are superseded. */
  private fileWritten(call: number): void {
    this.newestFileCall = Math.max(this.newestFileCall, call);
    for (const old of this.jobs.filter((j) => j.call < call && j.state === 'failed')) {
      this.jobs = this.jobs.filter((j) => j !== old);
    }
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

  private enqueue(record: Buffer | null, maxIndex: number, hardState: HardState | null, voter: VoterState | null): void {
    let op = this.queue[this.queue.length - 1];
    if (!op || op.kind !== 'records' || op.attempted) {
      op = { kind: 'records', seq: 0, chunks: [markSlot()], bytes: BATCH_RECORD_BYTES, maxIndex: 0, hardState: null, voter: null, attempted: false };
      this.queue.push(op);
    }
    if (record) {
      op.chunks.push(record);
      op.bytes += record.length;
    }
    op.maxIndex = Math.max(op.maxIndex, maxIndex);
    if (hardState) op.hardState = hardState;
    if (voter) op.voter = voter;
    op.seq = ++this.queuedSeq;
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
    op.attempted = true;
    // Term and vote first: a journal that reached the disk without them is merely a log the
    // member may have heard of, while the reverse (a vote on disk) is what it promised.
    if (op.voter) {
      await this.voter!.write(op.voter);
      op.voter = null;
    }
    if (op.bytes === BATCH_RECORD_BYTES) return;
    if (op.chunks.length > 1) {
      op.chunks.push(markSlot());
      op.bytes += BATCH_RECORD_BYTES;
      op.chunks = [Buffer.concat(op.chunks, op.bytes)];
    }
    await this.journal.rotateIfDue();
    await this.journal.write(op.chunks[0]!, op.maxIndex);
    if (op.hardState) this.journal.writtenHardState = op.hardState;
  }

  private async writeSnapshot(op: SnapshotOp): Promise<void> {
    const { index, term } = op.snapshot.meta;
    if (!op.fileWritten) {
      await this.onFileLane(() => writeSnapshotFile(this.fs, this.dataDir, op.snapshot));
      this.fileWritten(op.call);
      op.fileWritten = true;
    }
    if (op.segmentSeq === null || this.journal.activeSeq !== op.segmentSeq) {
      op.segmentSeq = await this.journal.openSegment(encodeSnapshotMark(index, term, op.keepFollowing));
    }
    await this.journal.write(Buffer.alloc(MARKS_ONLY_BYTES), 0);
    // The SNAPSHOT record is durable: covered segments are dead weight, deleted beside the queue.
    const markSeq = op.segmentSeq;
    void this.onFileLane(() => this.journal.dropCoveredBy(index, markSeq));
  }

}
