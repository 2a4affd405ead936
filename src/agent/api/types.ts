/**
 * The agent's REST API as TypeScript types: the JSON bodies (Patroni-compatible, snake_case, so
 * HAProxy checks, dashboards and patronictl-style clients keep working) and `AgentApi`, the small
 * interface the HTTP server calls. The agent implements `AgentApi`; the server's tests use a fake.
 *
 * LSNs are byte positions as JSON numbers, as Patroni sends them (2^53 bytes = 8 PiB of WAL, so a
 * number is exact for any real cluster); `/cluster` additionally formats them as `X/Y` text.
 */
import type { ClusterView, MemberTags } from '../../dcs/index.js';
import type { BasebackupPhase } from '../../postgres/index.js';

// ---------------------------------------------------------------------------------------------
// GET /patroni and the health checks
// ---------------------------------------------------------------------------------------------

/** Role in the member status. Patroni ≤ 3.0 said `master`; we always say `primary`. */
export type StatusRole = 'primary' | 'replica' | 'standby_leader' | 'demoted' | 'promoted' | 'uninitialized';

/**
 * PostgreSQL state in Patroni's words. `running` is the only one health checks accept; the others
 * are shown by `list` (`starting`, `stopped`, `crashed`, `creating replica`, `stopping`, …).
 */
export type PostgresStateName =
  | 'running'
  | 'starting'
  | 'stopping'
  | 'stopped'
  | 'crashed'
  | 'restarting'
  | 'creating replica'
  | 'running custom bootstrap script'
  | 'initializing new cluster'
  | 'start failed'
  | 'restart failed'
  | 'bootstrap failed'
  | (string & {});

/** Primary: the flushed WAL position. */
export interface XlogPrimary {
  location: number;
}

/** Replica: receive/replay positions; `paused` = pg_is_wal_replay_paused(). */
export interface XlogReplica {
  received_location: number | null;
  replayed_location: number | null;
  /** Commit time of the last replayed transaction (ISO text), null when none yet. */
  replayed_timestamp: string | null;
  paused: boolean;
}

/** One row of pg_stat_replication as Patroni publishes it. */
export interface ReplicationConnection {
  usename: string;
  application_name: string;
  client_addr: string | null;
  state: string;
  sync_state: string;
  sync_priority: number;
}

/** A restart the agent will perform at `schedule` (body of POST /restart with `schedule`). */
export interface ScheduledRestart {
  schedule: string;
  postmaster_start_time?: string;
  restart_pending?: boolean;
  role?: RestartRoleFilter;
  postgres_version?: string;
  timeout?: number;
}

/** hactl extension: what the watchdog is doing (Patroni only has `watchdog_failed`). */
export interface WatchdogStatus {
  mode: 'off' | 'automatic' | 'required';
  /** Device open and a timeout set (only while holding the leader key). */
  active: boolean;
  device: string | null;
  timeout_seconds: number | null;
  /** Last successful keepalive, epoch seconds. */
  last_ping: number | null;
}

/** hactl extension (issue 9): the fence process that kills this primary if its agent stops renewing the leader key. */
export interface FenceStatus {
  /** `off` only when configured so (documented; default on). */
  mode: 'on' | 'off';
  /** The fence process is up and answering. */
  running: boolean;
  pid: number | null;
  /** A deadline is set (this member holds the leader key). */
  armed: boolean;
  /** Set while mode is on but the fence does not enforce: `paused` (maintenance mode). */
  disabled_reason?: string;
  /** Milliseconds until the fence kills PostgreSQL unless the key is renewed first; null when disarmed. */
  deadline_remaining_ms: number | null;
  safety_margin_ms: number;
  /** Times the agent had to restart a dead fence process. */
  restarts: number;
  /** The last kill by the fence, until PostgreSQL runs again. */
  last_fenced: { at: string; reason: string; late_by_ms: number; postmaster_pid: number | null } | null;
}

/** pg_basebackup progress; `total_bytes` is the server's estimate and may grow during the copy. */
export interface BasebackupStatus {
  phase: BasebackupPhase;
  done_bytes: number;
  total_bytes: number;
}

/**
 * Body of `GET /patroni` and of every health check. When PostgreSQL is not running or does not
 * answer, only `state`, `role` and the agent-level fields are present (as Patroni).
 */
export interface MemberStatus {
  state: PostgresStateName;
  role: StatusRole;
  postmaster_start_time?: string | null;
  /** e.g. 160004. */
  server_version?: number;
  xlog?: XlogPrimary | XlogReplica;
  timeline?: number;
  /** Replicas: `streaming` or `in archive recovery`. */
  replication_state?: string;
  /** Primary: its walsenders. */
  replication?: ReplicationConnection[];
  /** Replica listed in the `sync` key (non-quorum mode). The server adds it from the cluster view. */
  sync_standby?: boolean;
  quorum_standby?: boolean;
  pause?: boolean;
  /** No leader key, or the DCS is unreachable. */
  cluster_unlocked?: boolean;
  failsafe_mode_is_active?: boolean;
  /** Last successful DCS read, epoch seconds. */
  dcs_last_seen?: number;
  tags?: MemberTags;
  database_system_identifier?: string;
  pending_restart?: boolean;
  pending_restart_reason?: Record<string, { old_value: string; new_value: string }>;
  scheduled_restart?: ScheduledRestart;
  /** The watchdog is required but does not work: peers must not pick this member. */
  watchdog_failed?: boolean;
  /** hactl extension. */
  watchdog?: WatchdogStatus;
  /** hactl extension (issue 9). */
  fence?: FenceStatus;
  /** hactl extension: the running clone/reinitialize's base backup, for `reinit --wait`. */
  basebackup?: BasebackupStatus;
  patroni: { version: string; scope: string; name: string };
}

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
  failsafeActive?: boolean;
}

// ---------------------------------------------------------------------------------------------
// GET /cluster, /history
// ---------------------------------------------------------------------------------------------

export type ClusterMemberRole = 'leader' | 'standby_leader' | 'sync_standby' | 'quorum_standby' | 'replica';

export interface ClusterMember {
  name: string;
  role: ClusterMemberRole;
  /** Replicas: replication_state when known (`streaming`), else the PostgreSQL state. */
  state: string;
  api_url?: string;
  host?: string;
  port?: number;
  timeline?: number;
  pending_restart?: boolean;
  pending_restart_reason?: Record<string, unknown>;
  scheduled_restart?: ScheduledRestart;
  tags?: MemberTags;
  /** hactl extension (issue 9): the member's fence and watchdog in a word (`armed 4.2s`, `active 25s`), from its member key. */
  fence?: string;
  watchdog?: string;
  /** Non-leaders: positions as `X/Y` and lag in bytes behind the last known primary LSN. */
  receive_lsn?: string;
  receive_lag?: number | 'unknown';
  replay_lsn?: string;
  replay_lag?: number | 'unknown';
  lsn?: string;
  lag?: number | 'unknown';
}

export interface ClusterJson {
  members: ClusterMember[];
  scope: string;
  pause?: boolean;
  scheduled_switchover?: { at: string; from?: string; to?: string };
}

/** One line of `GET /history`: `[timeline, lsn, reason, timestamp, new_leader]` (last two optional). */
export type HistoryRow = [timeline: number, lsn: number, reason: string, timestamp?: string, newLeader?: string];

// ---------------------------------------------------------------------------------------------
// Request bodies (as sent on the wire) and their validated forms (what AgentApi receives)
// ---------------------------------------------------------------------------------------------

/** POST /switchover and /failover. `primary` is accepted as an alias of `leader`, `member` of `candidate`. */
export interface SwitchoverBody {
  leader?: string;
  primary?: string;
  candidate?: string;
  member?: string;
  scheduled_at?: string;
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

export type RestartRoleFilter = 'primary' | 'standby_leader' | 'replica';

/** POST /restart (every key optional; `master` is accepted as `primary`). */
export interface RestartBody {
  restart_pending?: boolean;
  role?: RestartRoleFilter | 'master';
  /** Restart only if the running version is lower, e.g. `16.4` or `160004`. */
  postgres_version?: string;
  /** Seconds; overrides primary_start_timeout for this start. */
  timeout?: number;
  /** ISO 8601 with a time zone. */
  schedule?: string;
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

/** POST /reinitialize (`from-leader` is accepted as an alias, it is what Patroni's docs say). */
export interface ReinitializeBody {
  force?: boolean;
  from_leader?: boolean;
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
  /** `restapi.http_extra_headers`. */
  extraHeaders?: Record<string, string>;
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
