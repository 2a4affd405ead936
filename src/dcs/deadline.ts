/**
 * Bounding store calls by retry_timeout. A Raft write without quorum never fails by itself: it just
 * waits. The HA loop's safety argument (`loop_wait + 2*retry_timeout <= ttl`) needs every call to
 * give up in time, so each goes through this.
 */
import type { DcsClock } from './clock.js';
import { DcsUnavailable } from './errors.js';

/**
 * Runs `fn` and rejects with `DcsUnavailable(operation)` if it has not settled after `timeoutMs`
 * on `clock`. The signal passed to `fn` aborts at the deadline so the implementation can drop the
 * request; a write that already reached the store may still apply — callers must treat the outcome
 * as unknown (never as success). Other errors pass through unchanged: implementations turn their
 * transport failures into `DcsUnavailable` themselves, so a bug is never mistaken for an outage.
 */
export async function withRetryTimeout<T>(
  operation: string,
  timeoutMs: number,
  clock: DcsClock,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let cancel: () => void = () => {};
  const deadline = new Promise<never>((_, reject) => {
    cancel = clock.setTimer(timeoutMs, () => {
      controller.abort();
      reject(new DcsUnavailable(operation, `DCS is not accessible: ${operation} did not complete within ${timeoutMs} ms`));
    });
  });
  try {
    return await Promise.race([fn(controller.signal), deadline]);
  } finally {
    cancel();
  }
}
