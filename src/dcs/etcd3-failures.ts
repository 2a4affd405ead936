/**
 * Which errors of the etcd3 client mean "etcd is not accessible" (they become DcsUnavailable; any
 * other error is a bug and passes through), and which calls may be sent again within retry_timeout.
 */

/** The etcd3 client library, imported lazily (startEtcd3Dcs) and handed around as a value. */
export type Etcd3Module = typeof import('etcd3');

/** gRPC said the request never reached a member: safe to send elsewhere even when not idempotent. */
const NOT_SENT = /No connection established|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|failed to connect|Name resolution failed|etcdserver: no leader|circuit breaker is open/i;

/**
 * Idempotent calls may always be sent again after a recoverable error; a conditional write only
 * when it provably never reached a member (resending one whose outcome is unknown would report our
 * own applied write as a lost race).
 */
export function retryable(lib: Etcd3Module, err: unknown, idempotent: boolean): boolean {
  if (!(err instanceof Error)) return false;
  if (NOT_SENT.test(err.message)) return true;
  return idempotent && lib.isRecoverableError(err);
}

export function isEtcdFailure(lib: Etcd3Module, err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // Cockatiel's breaker error (the library's per-member circuit breaker) is not exported by etcd3.
  if (err.name === 'BrokenCircuitError' || 'isBrokenCircuitError' in err) return true;
  return [lib.GRPCGenericError, lib.EtcdError, lib.EtcdLeaseInvalidError, lib.EtcdAuthenticationFailedError, lib.EtcdPermissionDeniedError, lib.EtcdInvalidAuthTokenError].some(
    (cls) => err instanceof cls,
  );
}

/**
 * Connection failures: the member is down or unreachable. Not etcd answering with an error, and not
 * a deadline, which a live member waiting out an election also runs into.
 */
const UNREACHABLE = /No connection established|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|failed to connect/i;

/** The policy object the etcd3 pool runs each call to one member through. */
export interface MemberPolicy {
  execute<T>(fn: (context: { signal: AbortSignal }) => Promise<T>): Promise<T>;
}

/**
 * Per member: after `threshold` calls in a row that could not connect to it, the pool skips it for
 * `openMs` and then lets one call try again. The library's default breaker also counts etcd's own
 * answers ("etcdserver: no leader" during an election), so a few calls in flight while etcd's
 * leader dies opened the breaker of every live member for 5 s and every call failed at once.
 */
export function memberBreaker(now: () => number, threshold = 3, openMs = 2_000): MemberPolicy {
  let failures = 0;
  let openUntil = 0;
  return {
    async execute(fn) {
      if (failures >= threshold && now() < openUntil) {
        const err = new Error('Execution prevented because the circuit breaker is open');
        err.name = 'BrokenCircuitError';
        throw err;
      }
      try {
        const result = await fn({ signal: new AbortController().signal });
        failures = 0;
        return result;
      } catch (err) {
        if (err instanceof Error && UNREACHABLE.test(err.message)) {
          failures++;
          if (failures >= threshold) openUntil = now() + openMs;
        }
        throw err;
      }
    },
  };
}
