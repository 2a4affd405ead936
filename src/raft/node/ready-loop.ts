/**
 * The Ready loop: the one place where the core's decisions become I/O, in the order the core
 * requires — persist (one sync for the whole batch: group commit), send, apply, advance.
 *
 * Three latency rules, all safe because the core counts the leader's own log toward commit only up
 * to what is durable (stableIndex) — the "leader writes to its disk in parallel" of Ongaro's thesis
 * §10.2.1:
 * - a leader's Append/Snapshot messages of its current term go out BEFORE its own fsync, so the
 *   followers' fsyncs overlap the leader's; everything else (votes, responses) waits for the sync;
 * - committed entries that are already durable here (every one before this batch's first entry;
 *   none when the batch installs a snapshot) are applied BEFORE the batch's fsync: they are on a
 *   quorum's disks and ours, so answering their clients waits for nothing this fsync protects;
 * - a hard state that differs from the durable one only in `commit` is written but not synced on
 *   its own: commit is re-learned from the leader after a crash, term and vote are not.
 *
 * Inputs (ticks, messages, proposals) keep flowing into the core while a sync is in flight; the
 * next batch then carries everything that arrived meanwhile, which is what makes many concurrent
 * writes cost one fsync.
 *
 * When persistence fails (ENOSPC, EIO), nothing of that batch leaves the node: the owner calls
 * core.stepDown (a leader gives up leadership; the core re-emits the unpersisted part later) and
 * fails its waiting writes, and the loop retries the storage with backoff. Once a sync succeeds the
 * node resumes (pysyncobj's leader instead kept leading with a full disk and wedged the cluster).
 */
import type { Entry, HardState, Message, Ready } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import type { RaftStorage } from '../storage/types.js';
import { backoffMs, sleep } from './backoff.js';
import { errorMessage } from './errors.js';

export interface ReadySource {
  hasReady(): boolean;
  ready(): Ready;
  advance(rd: Ready): void;
  /** Persisting failed: step down, stop campaigning, re-emit the unpersisted batch later. */
  stepDown(reason: string): void;
  setPersistHealthy(healthy: boolean): void;
}

export interface ReadyHandlers {
  send(messages: Message[]): void;
  /** Apply committed entries that are durable here, ahead of the batch's own persistence. */
  applyDurable(committed: readonly Entry[]): void;
  /** Install a snapshot (when set) and apply the rest of the committed entries; resolve reads. */
  apply(rd: Ready, committed: readonly Entry[]): void;
  /**
   * After advance: a chance to take a snapshot / compact. Runs synchronously so the snapshot takes
   * its place in the storage order; saving it must not hold up the loop (FileStorage writes the
   * file beside log syncs).
   */
  afterAdvance(): void;
  /** Persisting failed (the loop already stepped the core down): fail what waits on it. */
  storageFailed(err: Error): void;
}

export class ReadyLoop {
  private running = false;
  private stopped = false;
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => {};
  /** Batches made durable and the time their syncs took (status, benchmarks). */
  syncCount = 0;
  syncMsTotal = 0;
  /** Why persisting fails, while it does; null when healthy. */
  storageError: string | null = null;

  /** Term and vote as last made durable: a change to either forces a sync. */
  private durable: { term: number; vote: string | null };

  constructor(
    initial: HardState,
    private readonly core: ReadySource,
    private readonly storage: RaftStorage,
    private readonly handlers: ReadyHandlers,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.durable = { term: initial.term, vote: initial.vote };
  }

  /** Run the loop soon; calls while it runs are absorbed (it re-checks hasReady before stopping). */
  schedule(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.idle = new Promise((resolve) => (this.markIdle = resolve));
    // A microtask lets the caller's synchronous burst (several proposals, a tick) land in one batch.
    queueMicrotask(() => void this.run());
  }

  /** Resolves when the loop has nothing left to do (stop() uses it to flush). */
  whenIdle(): Promise<void> {
    return this.idle;
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopped && this.core.hasReady()) {
        const rd = this.core.ready();
        const early = earlyMessages(rd);
        if (early.length > 0) this.handlers.send(early);
        const durable = durableCommitted(rd);
        if (durable.length > 0) this.handlers.applyDurable(durable);
        const outcome = await this.persist(rd);
        if (outcome === 'stopped') return;
        // Dropped: the core re-emits the committed entries too; applying them again is a no-op.
        if (outcome === 'dropped') continue;
        const sent = new Set(early);
        const late = early.length === 0 ? rd.messages : rd.messages.filter((m) => !sent.has(m));
        if (late.length > 0) this.handlers.send(late);
        this.handlers.apply(rd, durable.length === 0 ? rd.committed : rd.committed.slice(durable.length));
        this.core.advance(rd);
        this.handlers.afterAdvance();
      }
    } catch (err) {
      // A bug here must be loud: the node cannot make progress without its Ready loop.
      this.logger.error(`raft: ready loop failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    } finally {
      this.running = false;
      this.markIdle();
    }
  }

  /**
   * 'ok' once the batch is durable; 'dropped' when persisting failed (the core was told to step
   * down and re-emits the batch) and storage works again; 'stopped' when the node stopped meanwhile.
   */
  private async persist(rd: Ready): Promise<'ok' | 'dropped' | 'stopped'> {
    const hs = rd.hardState;
    const termOrVote = hs !== null && (hs.term !== this.durable.term || hs.vote !== this.durable.vote);
    const needsSync = rd.entries.length > 0 || termOrVote;
    if (!needsSync && rd.snapshot === null) {
      // Commit-only change: buffered, durable with the next sync.
      if (hs !== null) this.storage.setHardState(hs);
      return 'ok';
    }
    const started = this.now();
    try {
      // Hard state first: a snapshot or entries of a new term must never be on disk while the
      // voter file still holds the old term (the storage writes in call order).
      if (rd.hardState !== null) this.storage.setHardState(rd.hardState);
      if (rd.snapshot !== null) await this.storage.saveSnapshot(rd.snapshot);
      if (rd.entries.length > 0) this.storage.append(rd.entries);
      if (needsSync) await this.storage.sync();
      if (hs !== null) this.durable = { term: hs.term, vote: hs.vote };
      this.syncCount += 1;
      this.syncMsTotal += this.now() - started;
      return 'ok';
    } catch (err) {
      this.failed(err, rd.softState.role === 'leader');
    }
    // The storage keeps what failed queued (RaftStorage contract): a sync that succeeds flushed it.
    for (let attempt = 0; ; attempt++) {
      const delay = backoffMs(attempt, 100, 5_000);
      await sleep(delay);
      if (this.stopped) return 'stopped';
      try {
        await this.storage.sync();
        this.logger.info(`raft: persisting works again after ${Math.round(this.now() - started)} ms; resuming`);
        this.storageError = null;
        this.core.setPersistHealthy(true);
        return 'dropped';
      } catch (err) {
        this.logger.warn(`raft: persisting the log still fails (${errorMessage(err)}); retrying in ${backoffMs(attempt + 1, 100, 5_000)} ms`);
      }
    }
  }

  private failed(err: unknown, wasLeader: boolean): void {
    this.storageError = errorMessage(err);
    this.logger.error(
      `raft: cannot persist the log (${this.storageError}): ` +
        (wasLeader ? 'stepping down so a healthy member can lead; ' : '') +
        'pending writes are rejected, nothing unpersisted is acknowledged; retrying with backoff',
    );
    // Always: besides stepping a leader down, this stops campaigning and re-emits the unpersisted batch.
    this.core.stepDown(`storage failure: ${this.storageError}`);
    this.handlers.storageFailed(new Error(this.storageError));
  }
}

/** Committed entries of this batch that were durable here before it (see the header). */
function durableCommitted(rd: Ready): Entry[] {
  if (rd.snapshot !== null || rd.committed.length === 0) return [];
  const firstNew = rd.entries.length > 0 ? rd.entries[0]!.index : Infinity;
  let n = 0;
  while (n < rd.committed.length && rd.committed[n]!.index < firstNew) n++;
  return n === rd.committed.length ? rd.committed : rd.committed.slice(0, n);
}

/** A leader's replication messages of its current term: safe to send before its own fsync (see header). */
function earlyMessages(rd: Ready): Message[] {
  if (rd.softState.role !== 'leader' || rd.messages.length === 0) return [];
  return rd.messages.filter((m) => (m.type === 'Append' || m.type === 'Snapshot') && m.term === rd.softState.term && m.from === rd.softState.leader);
}
