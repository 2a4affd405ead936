/** Failure kinds a caller of RaftNode can act on; each message says what happened in words. */

/** No leader, or the leader could not be reached in time: safe to retry later. */
export class RaftUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftUnavailable';
  }
}

/**
 * The deadline passed while the outcome was unknown: the write may or may not have been applied.
 * Retrying through the same node keeps the (clientId, seq) so it cannot apply twice.
 */
export class RaftTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftTimeout';
  }
}

/** This node could not make its log durable (ENOSPC, EIO …); nothing it had not persisted was acknowledged. */
export class RaftStorageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftStorageError';
  }
}

/** The node is stopping or stopped. */
export class RaftStopped extends Error {
  constructor(message = 'the Raft node is stopped') {
    super(message);
    this.name = 'RaftStopped';
  }
}

/** A request the cluster refused (bad membership change, unknown transfer target …). */
export class RaftRequestDenied extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftRequestDenied';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
