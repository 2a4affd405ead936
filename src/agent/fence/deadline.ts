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
 * 4. The agent and the fence share the host's CLOCK_MONOTONIC (process.hrtime.bigint() in both;
 *    performance.now() is the same clock with a per-process origin, converted once), so no
 *    cross-host clock comparison is involved — only the rate bound of step 2.
 * Outside the assumption: a host whose CLOCK_MONOTONIC stops while it runs (suspend, some live
 * migrations) — the watchdog's job, as in lease.ts.
 *
 * The agent normally demotes itself much earlier (lease-loss.ts: one loop_wait + retry_timeout +
 * demote time before the lease ends); the fence only acts when the agent cannot (frozen, killed,
 * its event loop stuck in a DCS call).
 */

/** Same bound as src/raft/kv/lease.ts DEFAULT_MAX_DRIFT_RATIO (a unit test pins them equal; the agent layer may not import src/raft). */
export const FENCE_MAX_DRIFT_RATIO = 0.01;

/** Default time reserved between the fence deadline and the lease holder's deadline. */
export const DEFAULT_FENCE_SAFETY_MARGIN_MS = 1000;

export interface FenceDeadlineInput {
  /** Agent's monotonic ms, read just before the confirmed renewal was sent. */
  sentAtMonoMs: number;
  /** TTL the renewal wrote. */
  ttlMs: number;
  safetyMarginMs: number;
  maxDriftRatio?: number;
}

/** sent + ttl·(1 − ρ) − margin, on the agent's monotonic clock. */
export function fenceDeadlineMonoMs(input: FenceDeadlineInput): number {
  const { sentAtMonoMs, ttlMs, safetyMarginMs } = input;
  const rho = input.maxDriftRatio ?? FENCE_MAX_DRIFT_RATIO;
  if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
  if (!(rho >= 0 && rho < 1)) throw new RangeError(`maxDriftRatio must be in [0, 1), got ${rho}`);
  if (!(safetyMarginMs >= 0) || !Number.isFinite(safetyMarginMs)) throw new RangeError(`safetyMarginMs must be ≥ 0, got ${safetyMarginMs}`);
  return sentAtMonoMs + ttlMs * (1 - rho) - safetyMarginMs;
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

/**
 * Converts the agent's monotonic ms (performance.now(), origin = process start) to the host's
 * CLOCK_MONOTONIC in ns (process.hrtime.bigint(), the clock the fence process reads). Both come
 * from the same libuv hrtime; the offset is measured once. Rounded DOWN so the conversion can only
 * make the deadline earlier.
 */
export function monoMsToHostNs(monoMs: number, offsetNs: bigint): bigint {
  return BigInt(Math.floor(monoMs * 1e6)) + offsetNs;
}

/** hrtime − performance.now() in ns, measured now (accurate to well under a microsecond). */
export function measureMonoOffsetNs(): bigint {
  // hrtime read first and performance.now() rounded up: the offset errs small, the deadline early.
  const hostNs = process.hrtime.bigint();
  const mono = performance.now();
  return hostNs - BigInt(Math.ceil(mono * 1e6));
}
