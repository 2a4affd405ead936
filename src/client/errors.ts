/**
 * What can go wrong between the CLI and the agents, as typed errors whose message an operator can
 * act on. The CLI prints `Error: <message>` and exits non-zero for every one of them.
 */

// Wire failures are the protocol's; the CLI meets them through this module like the others.
export { AgentUnreachable, InvalidAgentResponse, InvalidAgentUrl } from '../protocol/errors.js';

/** No agent of the list answered; lists every address tried and why it failed. */
export class NoAgentReachable extends Error {
  constructor(readonly failures: readonly { url: string; reason: string }[]) {
    super(
      failures.length === 0
        ? 'no agent to ask: pass --api URL or -c FILE with restapi.connect_address'
        : `no agent reachable (tried ${failures.map((f) => `${f.url}: ${f.reason}`).join('; ')})`,
    );
    this.name = 'NoAgentReachable';
  }
}

/**
 * The agent answered with a refusal (4xx/5xx). `text` is the agent's own reason (Patroni's texts,
 * e.g. `switchover is not possible: no good candidates have been found`), shown verbatim.
 */
export class AgentRefused extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly text: string,
    /** What was asked, for the message: "switchover", "restart of node2", … */
    readonly action: string,
  ) {
    // hactl's refusals may add one line per member after the agent's reason (issue 17): keep the
    // reason and the status together on the first line, the members below it.
    const [reason, ...detail] = text.trim().split('\n');
    super(`${action} failed: ${reason || `HTTP ${status}`} (HTTP ${status} from ${url})${detail.map((line) => `\n  ${line}`).join('')}`);
    this.name = 'AgentRefused';
  }
}

/** 401/403: the credentials (or the client certificate) were not accepted. */
export class AgentAuthFailed extends AgentRefused {
  constructor(url: string, status: number, text: string, action: string) {
    super(url, status, text, action);
    this.name = 'AgentAuthFailed';
    this.message =
      `${action} failed: ${text.trim() || 'not authenticated'} (HTTP ${status} from ${url}); ` +
      'set ctl.authentication (or restapi.authentication) in the config file, or HACTL_CTL_USERNAME/HACTL_CTL_PASSWORD';
  }
}

/**
 * A request the CLI refuses before sending anything, because the cluster state makes it
 * meaningless (Patroni's texts: `This cluster has no leader`, `Member x is not the leader of cluster c`).
 */
export class ClusterStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterStateError';
  }
}

/** Something in the client's own settings: an unreadable config file, a malformed --api URL. */
export class ClientSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientSettingsError';
  }
}
