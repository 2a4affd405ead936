import type { Entry, HardState, Snapshot } from '../core/types.js';
import type { RecoveryState } from './voter-file.js';

export type { RecoveryState };

/**
 * What a node finds on disk at start. A torn last write has been cut off (and logged); anything
 * else damaged made load() reject with StorageCorruptError instead.
 */
export interface LoadedState {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
  /** Set while the member catches up after `hactl raft recover`: it must not vote. */
  recovery: RecoveryState | null;
}

/**
 * Durable Raft storage. Writes are buffered until `sync()`, which makes every earlier call durable
 * with as few fsyncs as possible (group commit). The node never sends a message or acknowledges a
 * write that depends on state not yet synced.
 */
export interface RaftStorage {
  /** True when nothing survives a restart (no data_dir). */
  readonly inMemory: boolean;
  load(): Promise<LoadedState>;
  /** Append entries; when entries[0].index ≤ the last stored index, that suffix is replaced. */
  append(entries: Entry[]): void;
  setHardState(hardState: HardState): void;
  /** Start (non-null) or end (null) a recovery; durable with the next sync(). */
  setRecovery(recovery: RecoveryState | null): void;
  /** Make all buffered writes durable. Rejects (e.g. ENOSPC) without losing earlier durable state. */
  sync(): Promise<void>;
  /** Atomically replace the snapshot, then drop log entries it covers. Durable when it resolves. */
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  close(): Promise<void>;
}
