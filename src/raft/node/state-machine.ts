/**
 * The applied side of a node: the KV store, the applied index (covers config and noop entries too,
 * which the store never sees), the applied membership, and what has been proposed for expiry.
 * The Ready loop hands it committed entries; it answers waiting writes by (clientId, seq).
 */
import { decodeMembership } from '../codec/entry.js';
import type { Entry, Membership, Snapshot } from '../core/types.js';
import { decodeCommand, ExpiryScheduler, isClientCommand, KvStore, type KvInput } from '../kv/index.js';

/** A lost expiry proposal (leadership transfer, truncation) is proposed again after this long. */
const EXPIRY_RETRY_MS = 1000;
import type { KvEvent, KvResult, Logger } from '../kv/types.js';

export function writeKey(clientId: string, seq: number): string {
  return `${clientId}\u0000${seq}`;
}

export interface AppliedWrite {
  key: string;
  result: KvResult;
}

export class StateMachine {
  kv: KvStore;
  appliedIndex: number;
  appliedTerm: number;
  membership: Membership;
  snapshotIndex: number;
  /** Entries and bytes applied since the last snapshot (compaction thresholds). */
  entriesSinceSnapshot = 0;
  bytesSinceSnapshot = 0;
  /** Expiries proposed and not yet applied; re-proposed after a while if lost (e.g. during a transfer). */
  readonly expiring = new ExpiryScheduler(EXPIRY_RETRY_MS);
  private readonly listeners = new Set<(e: KvEvent) => void>();
  private readonly forward = (e: KvEvent): void => {
    for (const l of [...this.listeners]) l(e);
  };

  constructor(
    snapshot: Snapshot | null,
    bootstrap: Membership,
    private readonly logger: Logger,
    now: number,
  ) {
    this.kv = snapshot ? KvStore.restore(snapshot.data, now, { logger }) : new KvStore({ logger });
    this.kv.onEvent(this.forward);
    this.appliedIndex = snapshot?.meta.index ?? 0;
    this.appliedTerm = snapshot?.meta.term ?? 0;
    this.membership = snapshot?.meta.membership ?? bootstrap;
    this.snapshotIndex = this.appliedIndex;
  }

  onEvent(listener: (e: KvEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replace the whole state with a snapshot received from the leader. */
  install(snapshot: Snapshot, now: number): void {
    this.kv.off(this.forward);
    this.kv = KvStore.restore(snapshot.data, now, { logger: this.logger });
    this.kv.onEvent(this.forward);
    this.appliedIndex = snapshot.meta.index;
    this.appliedTerm = snapshot.meta.term;
    this.membership = snapshot.meta.membership;
    this.snapshotIndex = snapshot.meta.index;
    this.entriesSinceSnapshot = 0;
    this.bytesSinceSnapshot = 0;
    this.expiring.reset();
  }

  /**
   * Apply one committed entry. Returns the answer for a waiting client write, and whether the
   * membership changed.
   */
  apply(entry: Entry, now: number): { write: AppliedWrite | null; membershipChanged: boolean } {
    if (entry.index <= this.appliedIndex) return { write: null, membershipChanged: false };
    let write: AppliedWrite | null = null;
    let membershipChanged = false;
    if (entry.type === 'normal') {
      let input: KvInput | null = null;
      try {
        input = decodeCommand(entry.data);
      } catch {
        // Every node holds the same bytes: skip it identically everywhere (store logs and consumes the index).
        this.kv.applyEncoded(entry.index, entry.data, now);
      }
      if (input !== null) {
        const result = this.kv.apply(entry.index, input, now);
        if (isClientCommand(input)) write = { key: writeKey(input.clientId, input.seq), result };
      }
    } else if (entry.type === 'config') {
      try {
        this.membership = decodeMembership(entry.data);
        membershipChanged = true;
      } catch (err) {
        this.logger.error(`raft: undecodable membership entry ${entry.index}: ${(err as Error).message}`);
      }
    }
    this.appliedIndex = entry.index;
    this.appliedTerm = entry.term;
    this.entriesSinceSnapshot += 1;
    this.bytesSinceSnapshot += entry.data.byteLength + 24;
    return { write, membershipChanged };
  }

  /** Leases that ran out on this node's clock and have no expiry in flight yet. */
  dueExpiries(now: number): { key: string; version: number }[] {
    return this.expiring.due(this.kv, now);
  }

  /** The KV state at the applied index, for core.compact; resets the compaction counters. */
  snapshotData(): Uint8Array {
    this.snapshotIndex = this.appliedIndex;
    this.entriesSinceSnapshot = 0;
    this.bytesSinceSnapshot = 0;
    return this.kv.snapshot();
  }
}
