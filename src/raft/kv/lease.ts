/**
 * Why a TTL key is a safe lease without comparing anybody's wall clock.
 *
 * Actors. A lease *holder* (the agent owning `leader`) writes the key with `ttlMs = T`, either to
 * create it (ifVersion 0) or to renew it (ifValue = its own name). Every Raft node notes on ITS OWN
 * monotonic clock the moment it *applies* that write (`KvStore`, local metadata, never replicated).
 * Only the Raft leader acts on time: once T has passed on its clock since its own apply of the
 * key's current version, it proposes `{op: 'expire', key, version}`; the store deletes the key on
 * every node only if the version is unchanged, so a renewal racing the expiry wins.
 *
 * Assumption (clock rate). The monotonic clocks of all hosts advance, over any interval, at rates
 * that differ by at most a factor `1 + ρ` from each other (ρ = `maxDriftRatio`; 1% by default —
 * crystal error is ~1e-4 and NTP slews CLOCK_MONOTONIC by at most 5e-4, so 1% is generous).
 * Nothing is assumed about their offsets: monotonic clocks of different hosts (and of one host
 * across a process restart) are unrelated numbers, which is why none is ever sent. Outside the
 * assumption: a host whose CLOCK_MONOTONIC stops while the holder is frozen (system suspend, some
 * VM migrations) — the holder would believe too little time passed; that is what the watchdog is for.
 *
 * Claim. The holder, counting from the moment it SENT the write (read its clock before handing the
 * request to the transport) and believing the lease for `L = T·(1 − ρ)` of its own clock, stops
 * believing it no later (in real time) than any node could apply an expiry of that write.
 *
 * Argument. Let σ be the real time of the send and d the real time the holder's belief ends.
 * 1. Every node N applies the write at some real time a_N ≥ σ: an entry is applied only after it
 *    was proposed, which is after it was sent. Restarted nodes re-apply (replay) later still, and a
 *    node restored from a snapshot takes the restore time as apply time — never earlier than σ.
 * 2. The Raft leader R proposes the expiry at the real time e when its clock shows T elapsed since
 *    a_R. Over [σ, d] the holder's clock advances L; R's clock advances at most (1 + ρ)·L
 *    = T·(1 − ρ²) ≤ T. Since a_R ≥ σ, R's clock has advanced at most T between a_R and d,
 *    so e ≥ d. The expiry is applied everywhere at or after e, hence not before d (the holder's
 *    belief is the half-open interval ending at d).
 * 3. A new Raft leader R' is no different: it counts from ITS apply time a_R' ≥ σ, so it neither
 *    expires early nor grants a fresh T (the remaining part of the lease only) — losing the host
 *    that ran both the primary and the Raft leader does not add a whole ttl to failover.
 * 4. A contender can only create the key after the expiry is applied (ifVersion 0 fails while it
 *    exists), i.e. after d. So two holders' believed intervals never overlap.
 *
 * A renewal whose outcome is unknown (timeout) must not extend the holder's belief: the holder
 * keeps the deadline of its last CONFIRMED write. If the unknown write did commit, nodes only
 * expire later than the holder thinks — safe. The holder must also finish acting on the loss
 * (demote PostgreSQL, stop the watchdog keepalive) before its deadline; that margin belongs to the
 * HA loop (`loop_wait + 2·retry_timeout ≤ ttl`), not to this file.
 *
 * Liveness note: followers never expire keys, so a key outlives T while there is no Raft leader
 * (expiry needs a commit anyway). A Raft leader change therefore delays expiry by at most the
 * election time plus the gap between old and new leader's apply times.
 */

/** Default bound on how much two hosts' monotonic clock rates may differ (1%). */
export const DEFAULT_MAX_DRIFT_RATIO = 0.01;

/**
 * The monotonic time (holder's clock) at which a lease holder must consider its lease lost, for a
 * write it sent at `sentAtMonoMs` with `ttlMs`, given the clock-rate bound above.
 */
export function holderDeadlineMs(sentAtMonoMs: number, ttlMs: number, maxDriftRatio: number = DEFAULT_MAX_DRIFT_RATIO): number {
  if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
  if (!(maxDriftRatio >= 0 && maxDriftRatio < 1)) throw new RangeError(`maxDriftRatio must be in [0, 1), got ${maxDriftRatio}`);
  return sentAtMonoMs + ttlMs * (1 - maxDriftRatio);
}
