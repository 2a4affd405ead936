/**
 * In-memory Raft storage: for tests and for nodes without a data_dir (like pysyncobj without a
 * journal file). It keeps the same contract as FileStorage — writes become "durable" only at
 * sync(), in call order — so that a test can crash a node (`crash()`) and lose exactly what a
 * real crash would, and can fail syncs (`failSyncs`) to exercise a full disk.
 */
import type { Entry, HardState, Snapshot } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import type { LoadedState, RaftStorage, RecoveryState } from './types.js';
import { INITIAL_HARD_STATE } from './replay.js';

type Op =
  | { kind: 'recovery'; recovery: RecoveryState | null }
  | { kind: 'entries'; entries: Entry[] }
  | { kind: 'hardState'; hardState: HardState }
  | { kind: 'snapshot'; snapshot: Snapshot };

export class MemoryStorage implements RaftStorage {
  readonly inMemory = true;
  private hardState: HardState = INITIAL_HARD_STATE;
  private snapshot: Snapshot | null = null;
  private entries: Entry[] = [];
  private recovery: RecoveryState | null = null;
  private pending: Op[] = [];
  private syncError: Error | null = null;
  /** Number of sync() calls that had something to write, for tests of batching. */
  syncCount = 0;

  constructor(private readonly logger?: Logger) {}

  async load(): Promise<LoadedState> {
    this.logger?.warn('raft storage: no data_dir set, keeping the Raft log in memory; nothing survives a restart');
    return { hardState: { ...this.hardState }, snapshot: this.snapshot, entries: [...this.entries], recovery: this.recovery };
  }

  setRecovery(recovery: RecoveryState | null): void {
    this.pending.push({ kind: 'recovery', recovery: recovery ? { ...recovery } : null });
  }

  append(entries: Entry[]): void {
    if (entries.length > 0) this.pending.push({ kind: 'entries', entries: [...entries] });
  }

  setHardState(hardState: HardState): void {
    this.pending.push({ kind: 'hardState', hardState: { ...hardState } });
  }

  async sync(): Promise<void> {
    if (this.syncError) throw this.syncError;
    if (this.pending.length === 0) return;
    this.syncCount++;
    for (const op of this.pending) this.applyOp(op);
    this.pending = [];
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    this.pending.push({ kind: 'snapshot', snapshot });
    await this.sync();
  }

  async close(): Promise<void> {
    await this.sync();
  }

  /** Simulates a process crash: everything not yet synced is lost; load() returns the rest. */
  crash(): void {
    this.pending = [];
  }

  /** While set, sync() and saveSnapshot() reject with this error and keep the pending writes. */
  failSyncs(error: Error | null): void {
    this.syncError = error;
  }

  private applyOp(op: Op): void {
    if (op.kind === 'recovery') {
      this.recovery = op.recovery;
    } else if (op.kind === 'hardState') {
      this.hardState = op.hardState;
    } else if (op.kind === 'entries') {
      const first = op.entries[0]!.index;
      const base = this.entries[0]?.index ?? first;
      // Same rule as the journal: the batch replaces everything from its first index on.
      this.entries = first >= base ? this.entries.slice(0, first - base) : [];
      this.entries.push(...op.entries);
    } else {
      const { index, term } = op.snapshot.meta;
      const at = this.entries.find((e) => e.index === index);
      this.entries = at && at.term === term ? this.entries.filter((e) => e.index > index) : [];
      this.snapshot = op.snapshot;
    }
  }
}
