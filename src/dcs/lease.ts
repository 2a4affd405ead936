/**
 * The lease holder's rule, for every store: a confirmed acquire/renewal with `ttlMs`, sent at
 * `sentAtMonoMs` on the holder's monotonic clock, may be believed until `sent + ttl·(1 − ρ)`.
 * The proof (and ρ, the clock-rate bound) lives with the Raft KV that expires the keys
 * (src/raft/kv/lease.ts); etcd and the memory store expire later than Raft would, so the same rule
 * is safe for them. This file is the one place the agent side learns the rule from: the `Dcs`
 * operations return the deadline, and the fence derives its own from that deadline.
 *
 * Imports only the pure lease file (not the Raft node): the fence process loads this at start-up.
 */
import { DEFAULT_MAX_DRIFT_RATIO, holderDeadlineMs } from '../raft/kv/lease.js';

/** Bound on how much two hosts' monotonic clock rates may differ (src/raft/kv/lease.ts). */
export const LEASE_MAX_DRIFT_RATIO = DEFAULT_MAX_DRIFT_RATIO;

/** Monotonic ms (holder's clock) until which a confirmed TTL write sent at `sentAtMonoMs` may be believed. */
export function leaseDeadlineMonoMs(sentAtMonoMs: number, ttlMs: number): number {
  return holderDeadlineMs(sentAtMonoMs, ttlMs, LEASE_MAX_DRIFT_RATIO);
}
