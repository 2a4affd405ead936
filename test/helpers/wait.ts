// Bounded waiting for tests: poll a condition until it holds or a deadline passes, then fail with
// what was awaited and the last value seen (never hang a test run).

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Shown in the timeout error: "waiting for <what>". */
  what?: string;
}

export class WaitTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WaitTimeout';
  }
}

/**
 * Resolve with the first truthy value `probe` returns. A probe that throws counts as "not yet"
 * (its error is reported if the deadline passes).
 */
export async function waitUntil<T>(probe: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let last: unknown = undefined;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err instanceof Error ? `error: ${err.message}` : err;
    }
    if (Date.now() >= deadline) {
      throw new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'a condition'} (last: ${JSON.stringify(last)})`);
    }
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Run `fn` with a deadline; rejects with WaitTimeout when it is not done in time. */
export async function withDeadline<T>(fn: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new WaitTimeout(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The most a step driven by a `nominalMs` timer may take in a test: three times the timer plus a
 * second. Enough to tell "gave up at retry_timeout" from "waited for another, much longer timer
 * (the ttl, a library default) or hung", yet not failing because a loaded machine ran the timer
 * late. Use it only for such bounds; speed is measured in bench/, not asserted in tests.
 */
export function timerBoundMs(nominalMs: number): number {
  return nominalMs * 3 + 1_000;
}

/**
 * The bound for "this will happen" in whole-cluster tests (writes arriving, a member reporting a
 * state, HAProxy switching): a minute. Met in seconds on a quiet machine; a loaded one stretches
 * every step, and a bound that is met costs nothing.
 */
export const LIVENESS_MS = 60_000;

/**
 * The bound of a whole file of real-process scenarios (a describe's `timeout`): a bootstrap
 * (BOOTSTRAPPED_WITHIN_MS, 4 min) plus its scenarios, each bounded by its own waits, on a loaded
 * machine. The same as scripts/run-tests.sh's --test-timeout; a suite bound tighter than the sum of
 * its waits turns a slow but progressing run into a failure.
 */
export const SUITE_MS = 600_000;
