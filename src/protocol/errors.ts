/**
 * What can go wrong on the wire between a REST client (the CLI, an agent asking its peers) and an
 * agent, as typed errors whose message an operator can act on.
 */

/** One agent did not answer: connection refused, host unknown, TLS failure or timeout. */
export class AgentUnreachable extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
    /**
     * The connection was established before the failure, so the agent may have received (and be
     * acting on) the request: a POST must not be retried on another agent then.
     */
    readonly connected = false,
  ) {
    super(`agent ${url} unreachable: ${reason}`);
    this.name = 'AgentUnreachable';
  }
}

/** The agent answered with something that is not the JSON we expect. */
export class InvalidAgentResponse extends Error {
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(`agent ${url} sent an invalid response: ${reason}`);
    this.name = 'InvalidAgentResponse';
  }
}

/** A URL that is not http(s)://host:port: nothing was sent. */
export class InvalidAgentUrl extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidAgentUrl';
  }
}
