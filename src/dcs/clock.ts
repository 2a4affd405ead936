/**
 * Time for the store implementations, injected so tests control TTL expiry and watch timeouts.
 * Monotonic milliseconds only: leases are never compared across hosts (see src/raft/kv/lease.ts).
 */

export interface DcsClock {
  /** Monotonic milliseconds (performance.now() in production). */
  nowMs(): number;
  /** Run `fn` after `delayMs` on this clock; returns a cancel function. */
  setTimer(delayMs: number, fn: () => void): () => void;
}

export const systemClock: DcsClock = {
  nowMs: () => performance.now(),
  setTimer(delayMs, fn) {
    const timer = setTimeout(fn, Math.max(0, delayMs));
    // A pending lease or watch timer must not keep a finished process alive.
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** A clock that moves only when told to; timers fire in time order during `advance`. */
export class ManualClock implements DcsClock {
  private now: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(startMs = 0) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, fn: () => void): () => void {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + Math.max(0, delayMs), fn });
    return () => {
      this.timers.delete(id);
    };
  }

  /** Move time forward by `ms`, firing due timers (including ones they schedule) in order. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot move a clock backwards (${ms} ms)`);
    const target = this.now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at <= target && (!next || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[0] < next[0]))) {
          next = entry;
        }
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = Math.max(this.now, next[1].at);
      next[1].fn();
    }
    this.now = target;
  }

  /** Timers still pending (tests check that nothing leaks). */
  get pendingTimers(): number {
    return this.timers.size;
  }
}
