/**
 * Failures of the cluster-state store. The HA loop treats `DcsUnavailable` as "I cannot tell what
 * the cluster looks like right now" (Patroni's DCSError): it never means a lost race, which
 * operations report as `false`.
 */
export class DcsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DcsError';
  }
}

/** An operation did not complete within retry_timeout (no quorum, partition, store stopped). */
export class DcsUnavailable extends DcsError {
  constructor(
    /** What was attempted, e.g. `update leader key`. */
    readonly operation: string,
    message?: string,
    options?: ErrorOptions,
  ) {
    super(message ?? `DCS is not accessible: could not ${operation}`, options);
    this.name = 'DcsUnavailable';
  }
}
