/** Types of the replicated key-value state machine (see kv/store.ts). */

export interface KvEntry {
  key: string;
  value: string;
  /** Raft index of the write that last changed (or renewed) the key. */
  version: number;
  /** Raft index of the write that created the key. */
  createVersion: number;
  /** Lease length in ms, or null for a key that never expires. */
  ttlMs: number | null;
}

export type KvCommand =
  /**
   * Set a key. Conditions (all optional, all must hold): `ifVersion` (0 = create only if absent),
   * `ifValue` (current value equals). Setting with a ttl renews the lease from the apply time.
   */
  | { op: 'set'; key: string; value: string; ttlMs?: number | null; ifVersion?: number; ifValue?: string }
  | { op: 'delete'; key: string; ifVersion?: number; ifValue?: string }
  /** Delete every key under a prefix (cluster removal). */
  | { op: 'deletePrefix'; prefix: string };

/**
 * Internal, never a client's: the Raft leader's own tick proposes it when a lease ran out on the
 * leader's clock, and it drops `key` if it still has `version`. The command boundary (RPC, the
 * node's write(), the log decoder) refuses it from anyone else, so no client can end a lease early.
 */
export interface ExpireCommand {
  op: 'expire';
  key: string;
  version: number;
}

/** A client write: (clientId, seq) lets a retried write apply exactly once. */
export interface ClientCommand {
  clientId: string;
  seq: number;
  command: KvCommand;
}

/**
 * `stale-request`: the client's (clientId, seq) is older than the last one this store applied for
 * that client, so it is neither applied nor answerable (a client keeps one write outstanding).
 */
export type KvFailure = 'version-mismatch' | 'value-mismatch' | 'not-found' | 'stale-request';

export type KvResult =
  /** `deleted`: how many keys a deletePrefix removed (absent for the other operations). */
  | { ok: true; entry: KvEntry | null; prev: KvEntry | null; deleted?: number }
  | { ok: false; reason: KvFailure; current: KvEntry | null };

export type KvEvent =
  | { type: 'set'; entry: KvEntry; prev: KvEntry | null }
  | { type: 'delete'; key: string; prev: KvEntry; expired: boolean };

/** Minimal logger the Raft library writes to; the agent passes its own. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
