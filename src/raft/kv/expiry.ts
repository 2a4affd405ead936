/**
 * What the Raft leader proposes to expire, and when: `KvStore.expiredKeys` says which leases ran
 * out on this node's clock; this remembers which (key, version) expiries are already in flight so
 * the leader does not propose the same one every tick (pysyncobj's `__limb`). A proposal can be
 * lost (leadership changes, entry truncated), so an unconfirmed one is proposed again after
 * `retryAfterMs`; a duplicate that does commit is harmless (the version no longer matches).
 */
import type { KvStore } from './store.js';

export class ExpiryScheduler {
  private readonly inFlight = new Map<string, { version: number; proposedAtMs: number }>();

  constructor(private readonly retryAfterMs: number) {}

  /** Expiries to propose now (on the Raft leader only), marked as in flight. */
  due(store: KvStore, localMonoNowMs: number): { key: string; version: number }[] {
    const out: { key: string; version: number }[] = [];
    for (const { key, version } of store.expiredKeys(localMonoNowMs)) {
      const previous = this.inFlight.get(key);
      if (previous && previous.version === version && localMonoNowMs - previous.proposedAtMs < this.retryAfterMs) continue;
      this.inFlight.set(key, { version, proposedAtMs: localMonoNowMs });
      out.push({ key, version });
    }
    // Forget keys whose lease is no longer due (expired, renewed or deleted).
    for (const [key, { version }] of this.inFlight) {
      if (store.get(key)?.version !== version) this.inFlight.delete(key);
    }
    return out;
  }

  /** Call when this node stops being leader: a future term must re-decide from scratch. */
  reset(): void {
    this.inFlight.clear();
  }
}
