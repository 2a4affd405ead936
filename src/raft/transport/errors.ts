/** Failures of the Raft port, each with a message an operator can act on. */

/** The port could not be bound: fatal at start (pysyncobj retried silently at 100% CPU instead). */
export class ListenFailed extends Error {
  constructor(
    readonly addr: string,
    reason: string,
  ) {
    super(`cannot listen on ${addr}: ${reason}`);
    this.name = 'ListenFailed';
  }
}

export class RaftNodeUnreachable extends Error {
  constructor(
    readonly addr: string,
    reason: string,
  ) {
    super(`cannot reach raft node ${addr}: ${reason}`);
    this.name = 'RaftNodeUnreachable';
  }
}

/** The handshake was refused: wrong password, or one side has a password and the other has none. */
export class RaftAuthFailed extends Error {
  constructor(
    readonly addr: string,
    detail: string,
  ) {
    super(`authentication failed: ${detail}`);
    this.name = 'RaftAuthFailed';
  }
}

export class RpcTimedOut extends Error {
  constructor(
    readonly addr: string,
    readonly timeoutMs: number,
  ) {
    super(`raft node ${addr} did not answer within ${timeoutMs} ms`);
    this.name = 'RpcTimedOut';
  }
}

/** The remote request handler failed; the message is the remote's. */
export class RpcFailed extends Error {
  constructor(
    readonly addr: string,
    remoteMessage: string,
  ) {
    super(`raft node ${addr} failed the request: ${remoteMessage}`);
    this.name = 'RpcFailed';
  }
}
