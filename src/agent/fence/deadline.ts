/**
 * When the fence must kill a primary whose agent stopped renewing the leader key — the timing
 * argument of issue 9, on top of the lease rule of src/raft/kv/lease.ts.
 *
 * Claim. The fence deadline is reached (in real time) before any Raft node can expire the leader
 * key written by the renewal the deadline was computed from, so the old primary is dead before any
 * other member can even create the key, let alone promote.
 *
 * Argument. Let the agent read its monotonic clock at `sent` just before handing the renewal (TTL
 * `T`) to the Raft node.
 * 1. Every node applies that write at a real time ≥ sent (an entry is applied after it is
 *    proposed); the Raft leader proposes the expiry only once ≥ T passed on ITS clock since ITS
 *    apply, and a new Raft leader counts from its own (later) apply (lease.ts, steps 1–3).
 * 2. Clock-rate assumption (lease.ts): monotonic clocks of different hosts advance at rates that
 *    differ by at most a factor 1 + ρ (ρ = 1 %). So T·(1 − ρ) on our clock ends no later than T
 *    on the Raft leader's clock, counted from a later start: the lease holder's belief
 *    `sent + T·(1 − ρ)` ends before the earliest expiry.
 * 3. The fence deadline is that belief minus `safetyMarginMs`, which absorbs what happens between
 *    the deadline and a dead postmaster: the fence process waking up late (scheduling on a loaded
 *    host), reading /proc and sending the signals (~ms), and the ms-to-ns conversion.
 * 4. The agent and the fence read the same host clock, CLOCK_BOOTTIME (holder-clock.ts), so no
 *    cross-host clock comparison is involved — only the rate bound of step 2 — and no
 *    per-process offset either.
 * 5. The holder's clock includes suspend (holder-clock.ts): a host that sleeps through the
 *    deadline finds it passed at its first reading after the resume; the fence re-reads the clock
 *    at least every HOLDER_RECHECK_MS (a timer counts CLOCK_MONOTONIC, which stopped), so it kills
 *    within that bound after a resume instead of after the rest of a timer that slept.
 * Outside the assumption: a VM pause the guest kernel does not see as a suspend (its clocks jump
 *    without it knowing) — the watchdog's job, as in lease.ts.
 *
 * The agent normally demotes itself much earlier (lease-loss.ts: one loop_wait + retry_timeout +
 * demote time before the lease ends); the fence only acts when the agent cannot (frozen, killed,
 * its event loop stuck in a DCS call).
 *
 * Releasing before the lease ends (issue 17, death-release.ts) is a separate, stronger claim, made
 * only when the fence SEES that nothing of the primary runs and nothing can bring it back without
 * the key: it never shortens the deadline above. A frozen agent, a pause, a cut network or a dead
 * host give the fence nothing to see (it is frozen too, or cut off, or dead, or the agent may wake
 * and write), so those cases keep waiting for the store to expire the key.
 */
import { LEASE_MAX_DRIFT_RATIO } from '../../dcs/lease.js';


/** The clock-rate bound of the lease rule (src/dcs/lease.ts), not a copy of it. */
export const FENCE_MAX_DRIFT_RATIO = LEASE_MAX_DRIFT_RATIO;

/** Default time reserved between the fence deadline and the lease holder's deadline. */
export const DEFAULT_FENCE_SAFETY_MARGIN_MS = 1000;

export interface FenceDeadlineInput {
  /**
   * The lease holder's deadline for the confirmed renewal, as the store returned it (sent +
   * ttl·(1 − ρ), src/dcs/lease.ts), on the agent's monotonic clock.
   */
  leaseDeadlineMonoMs: number;
  safetyMarginMs: number;
}

/** The lease deadline − margin, on the agent's monotonic clock (steps 2–3 above). */
export function fenceDeadlineMonoMs(input: FenceDeadlineInput): number {
  const { leaseDeadlineMonoMs, safetyMarginMs } = input;
  if (!Number.isFinite(leaseDeadlineMonoMs)) throw new RangeError(`leaseDeadlineMonoMs must be a finite number, got ${leaseDeadlineMonoMs}`);
  if (!(safetyMarginMs >= 0) || !Number.isFinite(safetyMarginMs)) throw new RangeError(`safetyMarginMs must be ≥ 0, got ${safetyMarginMs}`);
  return leaseDeadlineMonoMs - safetyMarginMs;
}

/**
 * The earliest real time (expressed on the holder's clock, under the rate bound) at which any Raft
 * leader could expire the key, if every node applied the write at the very moment it was sent:
 * sent + ttl / (1 + ρ). Used by tests to check the fence deadline stays strictly before it.
 */
export function earliestExpiryOnHolderClockMs(sentAtMonoMs: number, ttlMs: number, maxDriftRatio = FENCE_MAX_DRIFT_RATIO): number {
  return sentAtMonoMs + ttlMs / (1 + maxDriftRatio);
}

/**
 * Whether the settings leave the fence idle in normal operation: a renewal every loop_wait that
 * takes up to retry_timeout must land before the previous one's fence deadline. Returns a warning
 * for the log, or null.
 */
export function fenceTimingWarning(ttlMs: number, loopWaitMs: number, retryTimeoutMs: number, safetyMarginMs: number): string | null {
  const windowMs = ttlMs * (1 - FENCE_MAX_DRIFT_RATIO) - safetyMarginMs;
  if (windowMs <= 0) return `fence: safety_margin ${safetyMarginMs / 1000} s leaves no lease (ttl ${ttlMs / 1000} s); the fence would kill the primary after every renewal`;
  if (loopWaitMs + retryTimeoutMs >= windowMs) {
    return `fence: loop_wait + retry_timeout (${(loopWaitMs + retryTimeoutMs) / 1000} s) is not shorter than ttl·(1 − ρ) − safety_margin (${(windowMs / 1000).toFixed(2)} s): a slow renewal may let the fence stop a healthy primary`;
  }
  return null;
}

