/**
 * The REST wire contract between an agent and whoever reads it (the admin CLI, other agents): the
 * JSON bodies of Patroni's API (snake_case, Patroni-compatible, so HAProxy checks, dashboards and
 * patronictl-style clients keep working) and the request bodies of the actions. The agent's server
 * writes them, src/client and the agent's peer reads decode them with decode.ts. Imports nothing
 * of ours: both sides depend on this file, never on each other.
 *
 * LSNs are byte positions as JSON numbers, as Patroni sends them (2^53 bytes = 8 PiB of WAL, so a
 * number is exact for any real cluster); `/cluster` additionally formats them as `X/Y` text.
 */

/**
 * A member's tags as its config file gives them (the user's YAML keys, copied verbatim; unknown
 * tags are kept). The same shape as the member key's tags in src/dcs.
 */
export interface MemberTags {
  nofailover?: boolean;
  failover_priority?: number;
  noloadbalance?: boolean;
  clonefrom?: boolean;
  nosync?: boolean;
  nostream?: boolean;
  replicatefrom?: string;
  [tag: string]: unknown;
}

/** Phase of a running pg_basebackup, as `basebackup.phase` in GET /patroni. */
export type BasebackupPhase = 'checkpoint' | 'copying' | 'finishing-wal' | 'syncing' | 'done';

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
export type RestartRoleFilter = 'primary' | 'standby_leader' | 'replica';

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
  /**
   * hactl extension: what stops bootstrap, start, clone, rewind or the local connection from progressing,
   * with PostgreSQL's text and what to change; absent once the member runs again.
   */
  problem?: { action: string; message: string; since: string };
  patroni: { version: string; scope: string; name: string };
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
  /** hactl extension: the cluster's `initialize` key (PostgreSQL's system identifier); absent before bootstrap and from Patroni. */
  system_identifier?: string;
  pause?: boolean;
  /** hactl extension: the dynamic `failsafe_mode` is on (a primary may outlive a store outage); absent from Patroni. */
  failsafe_mode?: boolean;
  scheduled_switchover?: { at: string; from?: string; to?: string };
}

/**
 * hactl extension (issue 17), `GET /failover/candidates[?candidate=X&kind=switchover]`: which member
 * would take the leader key and why each other one would not, from the answering member's view.
 * Patroni has no such endpoint.
 */
export interface FailoverCandidatesJson {
  scope: string;
  /** `leader-lost`: who would win if the running leader failed now; `no-leader`: the race as it stands; `handover`/`manual`: a failover or switchover to `candidate` with/without a leader. */
  scenario: 'leader-lost' | 'no-leader' | 'handover' | 'manual';
  /** The member that answered; reachability is as it sees it. */
  answered_by: string;
  leader: string | null;
  candidate: string | null;
  pause: boolean;
  /** The one member that would take the key; null when none, or several (a tie: the first to write the key wins). */
  winner: string | null;
  racers: string[];
  summary: string;
  maximum_lag_on_failover: number;
  /** The last primary position the leader published (`status` key), bytes; null when none. */
  last_primary_lsn: number | null;
  cluster_timeline: number;
  synchronous_mode: 'off' | 'on' | 'quorum';
  /** What a POST /switchover or /failover would answer up front for this candidate (400/412/503), if it would refuse. */
  refusal?: { status: number; text: string };
  members: FailoverCandidateMember[];
}

export type ExclusionCodeJson =
  | 'unreachable'
  | 'nofailover'
  | 'watchdog'
  | 'fence'
  | 'lag'
  | 'timeline'
  | 'sync'
  | 'paused'
  | 'not-running'
  | 'primary-alive'
  | 'behind'
  | 'priority'
  | 'backoff'
  | 'manual'
  | 'leader'
  | 'failsafe';

export interface FailoverCandidateMember {
  name: string;
  role: string;
  state: string;
  reachable: boolean;
  /** WAL position in bytes and as `X/Y`; null when unknown. */
  lsn: number | null;
  lsn_text: string | null;
  /** Bytes behind the position its race measures lag against. */
  lag: number | null;
  timeline: number | null;
  failover_priority: number;
  /** `winner`, `races` (a tie), or `excluded` with `code` and `reason`. */
  verdict: 'winner' | 'races' | 'excluded';
  code: ExclusionCodeJson | null;
  reason: string | null;
  /** The lines the member's race would log (Patroni's wording). */
  log: string[];
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

/** POST /reinitialize (`from-leader` is accepted as an alias, it is what Patroni's docs say). */
export interface ReinitializeBody {
  force?: boolean;
  from_leader?: boolean;
}

/**
 * POST /failsafe (Patroni 3.0's failsafe_mode): a primary that cannot reach the store asks every
 * member of the `failsafe` key; 200 `Accepted` (with the member's WAL position in an `lsn` header)
 * means "you are the leader, I will not race for ttl". Patroni's fields.
 */
export interface FailsafePing {
  name: string;
  conn_url?: string;
  api_url?: string;
  /**
   * The primary's slot positions as it would publish them in the status key (slot name → LSN; a decimal
   * string past 2^53): a replica that accepts advances its copies of the permanent slots to them while
   * the store is away (Patroni's Failsafe.update_cluster). Absent when they could not be read.
   */
  slots?: Record<string, number | string>;
  /**
   * hactl extension (Patroni ignores it): the primary's current WAL position, so a member that was not
   * streaming meanwhile knows how far behind it is if it ever races after the store comes back.
   */
  xlog_location?: number;
}

/** GET /failsafe: the `failsafe` key as last known, member name → REST URL (`…/patroni`). */
export type FailsafeTopologyBody = Record<string, string>;
