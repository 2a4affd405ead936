import type { Entry, HardState, Snapshot } from '../core/types.js';

/** What a node finds on disk at start. Corrupt or torn tails have already been cut off (and logged). */
export interface LoadedState {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
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
  /** Make all buffered writes durable. Rejects (e.g. ENOSPC) without losing earlier durable state. */
  sync(): Promise<void>;
  /** Atomically replace the snapshot, then drop log entries it covers. Durable when it resolves. */
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  close(): Promise<void>;
}
