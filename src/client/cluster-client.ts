/**
 * The admin side's view of a cluster, over the agents' REST API (never the Raft store): reads are
 * tried on each known agent in turn with a short timeout, and every agent that did not answer is
 * remembered so the CLI can say so. Actions go to the member they concern (the leader for a
 * switchover, the target member for restart/reinit/reload) and a refusal carries the agent's text.
 */
import {
  AgentUnreachable,
  decodeClusterJson,
  decodeFailoverCandidates,
  decodeHistory,
  decodeJson,
  decodeMemberStatus,
  decodeObject,
  httpRequest,
  InvalidAgentResponse,
  type ClusterJson,
  type ClusterMember,
  type Credentials,
  type FailoverCandidatesJson,
  type HistoryRow,
  type HttpRequest,
  type MemberStatus,
  type ReinitializeBody,
  type RestartBody,
  type SwitchoverBody,
  type TlsSettings,
} from '../protocol/index.js';
import { AgentAuthFailed, AgentRefused, NoAgentReachable } from './errors.js';

export interface ClusterClientOptions {
  /** Base URLs (http(s)://host:port) in the order to try them. */
  agents: string[];
  auth?: Credentials;
  tls?: TlsSettings;
  /** Bound of each read (GET) per agent. */
  readTimeoutMs?: number;
  /**
   * Bound of an action: the agent answers a switchover only once it is done (Patroni waits up to
   * 2·max(10, loop_wait) s) and a restart once PostgreSQL is up again.
   */
  actionTimeoutMs?: number;
}

export interface Unreachable {
  url: string;
  reason: string;
}

export interface ClusterSnapshot {
  cluster: ClusterJson;
  /** The agent that answered. */
  via: string;
  /** `database_system_identifier` of the answering agent (null when its PostgreSQL is down). */
  systemIdentifier: string | null;
}

/** An accepted action: Patroni's status code and text (`Successfully switched over to "node2"`). */
export interface ActionReply {
  url: string;
  status: number;
  text: string;
}

export const DEFAULT_READ_TIMEOUT_MS = 2_000;
export const DEFAULT_ACTION_TIMEOUT_MS = 90_000;

export class ClusterClient {
  private readonly known: string[];
  private readonly failures = new Map<string, string>();
  private readonly readTimeoutMs: number;
  private readonly actionTimeoutMs: number;

  constructor(private readonly opts: ClusterClientOptions) {
    this.known = [...new Set(opts.agents)];
    this.readTimeoutMs = opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    this.actionTimeoutMs = opts.actionTimeoutMs ?? DEFAULT_ACTION_TIMEOUT_MS;
  }

  /** Agents that did not answer so far, with why (for a warning line). */
  get unreachable(): Unreachable[] {
    return [...this.failures].map(([url, reason]) => ({ url, reason }));
  }

  /**
   * `GET /cluster` from the first agent that answers, plus the system identifier: one request to an
   * hactl agent (its /cluster carries `system_identifier`); a Patroni agent's /cluster has none, so
   * then its `GET /patroni` (or the leader's) supplies it.
   */
  async cluster(): Promise<ClusterSnapshot> {
    return this.firstAnswer(this.known, async (url) => {
      const cluster = await this.getJson(url, '/cluster', decodeClusterJson);
      this.learn(cluster);
      if (cluster.system_identifier) return { cluster, via: url, systemIdentifier: cluster.system_identifier };
      // The identifier only decorates the table header: a member without PostgreSQL still serves /cluster.
      let systemIdentifier = (await this.getJson(url, '/patroni', decodeMemberStatus).catch(() => null))?.database_system_identifier ?? null;
      const leader = cluster.members.find((m) => m.role === 'leader' || m.role === 'standby_leader');
      if (systemIdentifier === null && leader?.api_url && agentBaseUrl(leader.api_url) !== url) {
        // Only the table header's identifier: an unreachable leader leaves it blank.
        systemIdentifier = (await this.getJson(agentBaseUrl(leader.api_url), '/patroni', decodeMemberStatus).catch(() => null))?.database_system_identifier ?? null;
      }
      return { cluster, via: url, systemIdentifier };
    });
  }

  /** `GET /patroni` of one member (its own view: state, xlog, pause, pending restart, …). */
  async memberStatus(member: ClusterMember | string): Promise<MemberStatus> {
    const url = typeof member === 'string' ? member : requireApiUrl(member);
    return this.getJson(url, '/patroni', decodeMemberStatus);
  }

  async history(): Promise<HistoryRow[]> {
    return this.firstAnswer(this.known, (url) => this.getJson(url, '/history', decodeHistory));
  }

  /** The dynamic configuration (`GET /config`). */
  async dynamicConfig(): Promise<Record<string, unknown>> {
    return this.firstAnswer(this.known, (url) => this.getJson(url, '/config', decodeObject));
  }

  /**
   * POST /switchover or /failover. Sent to `targets` in order (leader first); the next one is
   * tried only when a target could not be connected to, never after it may have received it.
   */
  async switchover(kind: 'switchover' | 'failover', body: SwitchoverBody, targets: string[]): Promise<ActionReply> {
    return this.sendInTurn(targets, 'POST', `/${kind}`, body, kind);
  }

  /**
   * GET /failover/candidates (hactl agents only): who would take the leader key and why each other
   * member would not. Asked of `targets` in turn (the leader's agent first: it sees the most); the
   * agent asks every member before answering, so this waits longer than a plain read.
   */
  async failoverCandidates(kind: 'switchover' | 'failover', candidate: string | null, targets: string[]): Promise<FailoverCandidatesJson> {
    const query = new URLSearchParams();
    if (candidate) query.set('candidate', candidate);
    if (kind === 'switchover') query.set('kind', kind);
    const qs = query.toString();
    const path = `/failover/candidates${qs ? `?${qs}` : ''}`;
    const urls = [...new Set(targets.map(agentBaseUrl))];
    return this.firstAnswer(urls.length > 0 ? urls : this.known, (url) => this.getJson(url, path, decodeFailoverCandidates, this.readTimeoutMs + 5_000));
  }

  /** DELETE /switchover: cancel a scheduled switchover. */
  async cancelSwitchover(targets: string[]): Promise<ActionReply> {
    return this.sendInTurn(targets, 'DELETE', '/switchover', undefined, 'cancelling the scheduled switchover');
  }

  async restart(member: ClusterMember, body: RestartBody, timeoutMs?: number): Promise<ActionReply> {
    return this.send(requireApiUrl(member), 'POST', '/restart', body, `restart of ${member.name}`, timeoutMs);
  }

  async cancelRestart(member: ClusterMember): Promise<ActionReply> {
    return this.send(requireApiUrl(member), 'DELETE', '/restart', undefined, `cancelling the scheduled restart of ${member.name}`);
  }

  async reinitialize(member: ClusterMember, body: ReinitializeBody): Promise<ActionReply> {
    return this.send(requireApiUrl(member), 'POST', '/reinitialize', body, `reinitialize of ${member.name}`);
  }

  async reload(member: ClusterMember): Promise<ActionReply> {
    return this.send(requireApiUrl(member), 'POST', '/reload', undefined, `reload of ${member.name}`);
  }

  /**
   * PATCH /config (JSON merge-patch; `null` deletes a key). Answers the new configuration. Sent to
   * the leader first like patronictl; 409 (a concurrent change) comes back as AgentRefused.
   */
  async patchConfig(patch: Record<string, unknown>, targets: string[]): Promise<Record<string, unknown>> {
    const reply = await this.sendInTurn(targets.length > 0 ? targets : this.known, 'PATCH', '/config', patch, 'changing the configuration');
    return decodeObject(decodeJson(reply.text, reply.url), reply.url);
  }

  /** Agents of `cluster` ordered leader first, then the others, then the configured ones. */
  targetsLeaderFirst(cluster: ClusterJson): string[] {
    const leader = cluster.members.filter((m) => m.role === 'leader' || m.role === 'standby_leader');
    const rest = cluster.members.filter((m) => !leader.includes(m));
    return [...new Set([...leader, ...rest].map((m) => m.api_url).filter((u): u is string => !!u).map(agentBaseUrl).concat(this.known))];
  }

  private async firstAnswer<T>(urls: string[], attempt: (url: string) => Promise<T>): Promise<T> {
    const tried: Unreachable[] = [];
    for (const url of urls) {
      try {
        const value = await attempt(url);
        this.failures.delete(url);
        return value;
      } catch (err) {
        if (!(err instanceof AgentUnreachable)) throw err;
        this.failures.set(url, err.reason);
        tried.push({ url, reason: err.reason });
      }
    }
    throw new NoAgentReachable(tried);
  }

  private async getJson<T>(url: string, path: string, decode: (value: unknown, url: string) => T, timeoutMs = this.readTimeoutMs): Promise<T> {
    const res = await httpRequest(url + path, this.request('GET', undefined, timeoutMs));
    if (res.status === 401 || res.status === 403) throw new AgentAuthFailed(url, res.status, res.text, `GET ${path}`);
    // /config answers 502 without a config key; a health-style 503 body is still the member's JSON.
    if (res.status >= 400 && !(path === '/patroni' && res.status === 503)) throw new AgentRefused(url, res.status, res.text, `GET ${path}`);
    return decode(decodeJson(res.text, url), url);
  }

  private async sendInTurn(targets: string[], method: HttpRequest['method'], path: string, body: unknown, what: string): Promise<ActionReply> {
    const tried: Unreachable[] = [];
    for (const url of [...new Set(targets.map(agentBaseUrl))]) {
      try {
        return await this.send(url, method, path, body, what);
      } catch (err) {
        if (!(err instanceof AgentUnreachable) || err.connected) throw err;
        this.failures.set(url, err.reason);
        tried.push({ url, reason: err.reason });
      }
    }
    throw new NoAgentReachable(tried);
  }

  private async send(url: string, method: HttpRequest['method'], path: string, body: unknown, what: string, timeoutMs?: number): Promise<ActionReply> {
    const res = await httpRequest(agentBaseUrl(url) + path, this.request(method, body, timeoutMs ?? this.actionTimeoutMs));
    if (res.status === 401 || res.status === 403) throw new AgentAuthFailed(url, res.status, res.text, what);
    if (res.status >= 300) throw new AgentRefused(url, res.status, res.text, what);
    return { url, status: res.status, text: res.text.trim() };
  }

  private request(method: HttpRequest['method'], body: unknown, timeoutMs: number): HttpRequest {
    return { method, body, auth: this.opts.auth, tls: this.opts.tls, timeoutMs };
  }

  /** Members' API URLs become fallbacks for later reads (a watch survives the first agent dying). */
  private learn(cluster: ClusterJson): void {
    for (const m of cluster.members) {
      const url = m.api_url ? agentBaseUrl(m.api_url) : null;
      if (url && !this.known.includes(url)) this.known.push(url);
    }
  }
}

/** Member API URLs in /cluster are `http://host:port/patroni` (Patroni's form); requests need the base. */
export function agentBaseUrl(url: string): string {
  const m = /^(https?:\/\/[^/]+)/i.exec(url);
  return m ? m[1]! : url.replace(/\/+$/, '');
}

function requireApiUrl(member: ClusterMember): string {
  if (!member.api_url) throw new InvalidAgentResponse('cluster', `member ${member.name} publishes no api_url`);
  return agentBaseUrl(member.api_url);
}
