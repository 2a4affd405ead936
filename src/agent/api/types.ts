/**
 * The agent's side of its REST API: `AgentApi`, the small interface the HTTP server calls (the
 * agent implements it; the server's tests use a fake), the validated forms of the request bodies,
 * the server's options. The JSON bodies on the wire are src/protocol's.
 */
import type { ClusterView } from '../../dcs/index.js';
import type { FailoverCandidatesJson, FailsafeTopologyBody, MemberStatus, RestartRoleFilter } from '../../protocol/index.js';

// ---------------------------------------------------------------------------------------------
// What the server receives and calls (the wire bodies themselves are in src/protocol)
// ---------------------------------------------------------------------------------------------

/**
 * What the HA loop knows that the status body does not carry: the inputs of the health checks
 * that Patroni takes from its `Ha` object rather than from SQL. Cheap and synchronous.
 */
export interface HaSnapshot {
  /** Holds the leader key and its lease has not run out (Patroni's `ha.is_leader()`), even if the DCS is unreachable now. */
  isLeader: boolean;
  /** Maintenance mode as last known (the DCS may be unreachable). */
  paused: boolean;
  /** When the next HA cycle is due (epoch ms): last cycle start + loop_wait. Null before the first cycle. `/liveness`. */
  nextRunAtMs: number | null;
  ttlSeconds: number;
  /** Effective `maximum_lag_on_failover` (`/readiness` default lag). */
  maximumLagOnFailoverBytes: number;
  /** Replica: pg_stat_wal_receiver.latest_end_lsn in bytes (what the primary last confirmed), null when unknown. */
  latestEndLsn: number | null;
  /** failsafe_mode is active here: a primary running on its members' word, or a replica pinged within ttl. */
  failsafeActive?: boolean;
  /** Dynamic `failsafe_mode` as last known (the store may be unreachable). */
  failsafeMode?: boolean;
}

/** A switchover/failover request after the server's validation (400/412 checks passed). */
export interface SwitchoverRequest {
  /**
   * `switchover` when a leader was named (a failover naming the leader becomes a switchover, as
   * in Patroni); `failover` otherwise. Drives the wording of the result text.
   */
  action: 'switchover' | 'failover';
  leader: string | null;
  candidate: string | null;
  /** Scheduled switchover: ISO text as given and its epoch ms; null = now. */
  scheduledAt: { text: string; ms: number } | null;
  /**
   * Immediate requests: the members whose `/patroni` the agent must ask before writing the key
   * (Patroni's `is_failover_possible`): the candidate, else the sync standbys, else every
   * non-leader with an API URL. 412 `<action> is not possible: no good candidates have been found`
   * when none is reachable, failover-eligible and without `watchdog_failed`. Empty when scheduled.
   */
  membersToCheck: string[];
}

export interface RestartRequest {
  restartPending: boolean | null;
  role: RestartRoleFilter | null;
  /** As given (validated: `X.Y`, `X.Y.Z` or an integer like 160004); the agent compares it with server_version. */
  postgresVersion: string | null;
  /** PostgreSQL's integer form of `postgresVersion`, e.g. 160004. */
  postgresVersionNum: number | null;
  timeoutSeconds: number | null;
  schedule: { text: string; ms: number } | null;
}

export interface ReinitializeRequest {
  force: boolean;
  fromLeader: boolean;
}

// ---------------------------------------------------------------------------------------------
// The interface the server calls
// ---------------------------------------------------------------------------------------------

/** Response of an action: Patroni answers actions with a short text and config changes with JSON. */
export type ActionResult = { status: number; text: string } | { status: number; body: unknown };

/**
 * A refusal with Patroni's status code and text, thrown by an `AgentApi` method (or by the
 * server's validation). The server answers `status` with `text` as the body.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    super(text);
    this.name = 'ApiError';
  }
}

type MaybePromise<T> = T | Promise<T>;

/**
 * What the REST server needs from the agent. Read methods should answer from state cached by the
 * HA loop (health checks are polled by load balancers; issue 4 wants ≥ 5× Patroni's throughput).
 * Action methods receive requests already validated by the server: body shape, schedule parsing
 * and the 400s and view-based 412s of Patroni's switchover checks; what is left to the agent is
 * anything needing I/O (asking candidates' `/patroni`, writing keys, waiting for the result).
 *
 * Methods may throw `ApiError` (answered as is) or `DcsUnavailable` (answered 503); anything else
 * is answered 500 with its message and logged.
 */
export interface AgentApi {
  /** Body of `GET /patroni` and of the health checks. */
  memberStatus(): MaybePromise<MemberStatus>;
  /** `memberStatus` with a replica's WAL positions read now (GET /patroni: other members race on them). */
  liveMemberStatus?(): Promise<MemberStatus>;
  /**
   * The last cluster view the loop read, or null when the DCS is unreachable or not read yet.
   * Serves `/cluster`, `/history`, `/config` and the sync/lag parts of the health checks.
   * `fresh: true` (used by `/cluster` and the actions, as Patroni does `get_cluster()` there) asks
   * for a read of the store now rather than the loop's cached view; null when that read fails.
   */
  clusterView(options?: { fresh?: boolean }): MaybePromise<ClusterView | null>;
  /** Leader flag, pause, loop timing: see `HaSnapshot`. */
  haSnapshot(): HaSnapshot;

  /**
   * Immediate: 412 `<action> is not possible: no good candidates have been found` when every
   * candidate is unreachable/nofailover/watchdog_failed; 503 `failed to write failover key into
   * DCS`; then wait and answer 200 `Successfully switched over to "x"` (or failed over),
   * 200 `Switched over to "y" instead of "x"`, 503 `Switchover failed`, 503 `Switchover status
   * unknown after N seconds; operation may still be in progress`. Scheduled: 202 `Switchover scheduled`.
   */
  requestSwitchover(req: SwitchoverRequest): Promise<ActionResult>;
  /**
   * GET /failover/candidates (hactl only, issue 17): which member would take the leader key and why
   * each other one would not — as if the leader failed now, or for a failover/switchover to
   * `candidate`. `view` is a fresh read; the agent asks the members' `/patroni` itself.
   */
  failoverCandidates(query: { view: ClusterView; candidate: string | null; kind: 'failover' | 'switchover' }): Promise<FailoverCandidatesJson>;
  /** Same as requestSwitchover with `action: 'failover'` (the server routes both; kept apart for clarity in the agent). */
  requestFailover(req: SwitchoverRequest): Promise<ActionResult>;
  /** DELETE /switchover: 200 `scheduled switchover deleted` / 404 `no switchover is scheduled` / 409. */
  cancelSwitchover(): Promise<ActionResult>;
  /**
   * 200 `restarted successfully`; 503 `restart conditions are not satisfied` | `postgres is still
   * starting` | `restart failed` | `<action> already in progress`; 202 `Restart scheduled`; 409
   * `Another restart is already scheduled`. (The server already answered the 400/422 filter and
   * schedule errors and 500 `Can't schedule restart in the paused state` from the view.)
   */
  restart(req: RestartRequest): Promise<ActionResult>;
  /** DELETE /restart: 200 `scheduled restart deleted` / 404 `no restarts are scheduled`. */
  cancelRestart(): Promise<ActionResult>;
  /**
   * 200 `reinitialize started`; 503 `Cluster has no leader, can not reinitialize` | `I am the
   * leader, can not reinitialize` | `<action> already in progress`.
   */
  reinitialize(req: ReinitializeRequest): Promise<ActionResult>;
  /** 202 `reload scheduled`. */
  reload(): Promise<ActionResult>;
  /**
   * JSON merge-patch (RFC 7396; `applyMergePatch` in config-patch.ts) into the dynamic config with
   * CAS: 200 + the new config as `body`; 503 `config is not set` when there is no config key; 409
   * on a concurrent change.
   */
  patchConfig(patch: Record<string, unknown>): Promise<ActionResult>;
  /** Replace the dynamic config: 200 + the config as `body`; 502 when the write failed. */
  putConfig(config: Record<string, unknown>): Promise<ActionResult>;
  /** GET /failsafe: the `failsafe` key as last known (Patroni's `dcs.failsafe`); null → 502. */
  failsafeTopology(): FailsafeTopologyBody | null;
  /**
   * POST /failsafe from a primary without the store: 200 `Accepted` with the WAL position in an `lsn`
   * header, 500 with why not, 502 when failsafe_mode is off (src/agent/ha/failsafe-state.ts).
   */
  acceptFailsafe(body: unknown): { status: number; text: string; lsn?: string };
}

// ---------------------------------------------------------------------------------------------
// Server options
// ---------------------------------------------------------------------------------------------

export interface ApiServerOptions {
  /** `host[,host…]:port` as in `restapi.listen`; only the first host is bound. `port` 0 = any free port. */
  listen: string;
  /** `restapi.authentication`: unsafe methods need Basic auth when set. */
  authentication?: { username: string; password?: string };
  /** `restapi.certfile`/`keyfile` (PEM paths): serve HTTPS. */
  certfile?: string;
  keyfile?: string;
  keyfilePassword?: string;
  cafile?: string;
  /** Client certificates: `required` rejects the TLS handshake without one; `optional` asks. */
  verifyClient?: 'none' | 'optional' | 'required';
  /** `restapi.ciphers` (OpenSSL cipher list) for HTTPS. */
  ciphers?: string;
  /** `restapi.http_extra_headers` (plus `https_extra_headers` when serving HTTPS). */
  extraHeaders?: Record<string, string>;
  /** `restapi.server_tokens`: `minimal` (default) `hactl/<version>`, `productonly` `hactl`, `original` no Server header. */
  serverTokens?: 'minimal' | 'productonly' | 'original';
  /** `restapi.allowlist`: hosts, addresses, CIDR networks allowed to call unsafe methods. */
  allowlist?: string[];
  /** `restapi.allowlist_include_members`: the members' API hosts are allowed too. */
  allowlistIncludeMembers?: boolean;
  /** Hosts of the members' api_url, for allowlistIncludeMembers. */
  memberApiHosts?: () => string[];
  /** Open connections at most (default 200); more are closed at once. */
  maxConnections?: number;
  /** Open connections from one source address at most (default 50). */
  maxConnectionsPerAddress?: number;
  /** Largest request body accepted (default 1 MiB); larger ones get 413. */
  maxBodyBytes?: number;
  /** hactl version, for `/metrics` and the `Server` header. */
  version: string;
  scope: string;
  name: string;
  /** Injected clock (epoch ms). */
  now?: () => number;
  /** Where handler failures (500s) are reported. */
  logError?: (message: string, error: unknown) => void;
}
