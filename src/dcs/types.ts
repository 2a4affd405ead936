/**
 * The cluster-state store as the HA loop sees it: one consistent `ClusterView` read per cycle, and
 * a handful of conditional writes. Implementations: `memory.ts` (tests), `raft.ts` (the embedded
 * Raft KV), later `etcd3.ts`. Every implementation must pass test/dcs/contract.ts.
 *
 * Inside hactl the types are camelCase with LSNs as bigint and durations in ms; the JSON stored in
 * the keys keeps Patroni's shapes (codec.ts), so tools that read Patroni's keys read ours.
 */

/** Member roles as published in member keys and REST (`master` is read as `primary`). */
export type MemberRole = 'primary' | 'replica' | 'standby_leader' | 'demoted' | 'promoted' | 'uninitialized';

/**
 * Tags from the member's local config. snake_case on purpose: they are the user's YAML keys, copied
 * verbatim; unknown tags are kept.
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

/** What a member publishes about itself in `members/<name>` (refreshed every cycle, with TTL). */
export interface MemberData {
  role: MemberRole;
  /** PostgreSQL state: `running`, `starting`, `stopped`, `crashed`, `creating replica`, … (Patroni's words). */
  state: string;
  apiUrl: string | null;
  connUrl: string | null;
  proxyUrl?: string | null;
  /** hactl version of the member (Patroni's `version` field), not a key version. */
  version: string | null;
  timeline: number | null;
  /** Primary: current WAL write position. Replica: the replay position (Patroni's convention). */
  xlogLocation: bigint | null;
  receivedLsn: bigint | null;
  replayedLsn: bigint | null;
  /** `streaming` or `in archive recovery` (replicas only). */
  replicationState: string | null;
  tags: MemberTags;
  pendingRestart: boolean;
  pendingRestartReason?: Record<string, unknown>;
  /** Set while the cluster is paused, so `list` can show it per member. */
  pause?: boolean;
  /** false only right after promote until the CHECKPOINT is done (pg_rewind needs it). */
  checkpointAfterPromote?: boolean;
  /**
   * hactl (issue 9): the fence and watchdog in a word or two (`armed 4.2s`, `on`, `fenced`;
   * `active 25s`, `off`, `failed`), as of this write, so `hactl list -e` shows every member's.
   */
  fence?: string;
  watchdog?: string;
  /** Fields of the stored JSON we do not model; written back unchanged. */
  extra?: Record<string, unknown>;
}

export interface Member extends MemberData {
  name: string;
  /** Store version of the member key (changes on every touch). */
  keyVersion: number;
}

/** The holder of the `leader` key. The stored value is the bare member name, as in Patroni. */
export interface LeaderLock {
  name: string;
  /** Store version of the key: changes on every renewal. */
  keyVersion: number;
  /** Time left on the lease as the store last saw it, when the implementation knows. Informational only. */
  expiresInMs: number | null;
}

/** The dynamic configuration as stored (validated by the agent with the config layer's schema). */
export interface ClusterConfig {
  data: Record<string, unknown>;
  keyVersion: number;
}

/** One timeline switch: timeline `timeline` ended at `lsn` (Patroni's `[tl, lsn, reason, ts, leader]`). */
export interface TimelineSwitch {
  timeline: number;
  lsn: bigint;
  reason: string;
  /** ISO 8601 time of the promotion, when known. */
  timestamp: string | null;
  /** The member that promoted to the next timeline, when known. */
  newLeader: string | null;
}

export interface ClusterHistory {
  lines: TimelineSwitch[];
  keyVersion: number;
}

/** A requested switchover (leader set) or failover (leader empty), stored in `failover`. */
export interface FailoverRequest {
  leader: string | null;
  candidate: string | null;
  /** Scheduled switchover time as stored (ISO 8601) and parsed; `ms` is null when the text does not parse. */
  scheduledAt: { text: string; ms: number | null } | null;
  keyVersion: number;
}

/** What a client writes to request a switchover; `scheduledAt` is ISO 8601 text. */
export interface FailoverRequestInput {
  leader?: string | null;
  candidate?: string | null;
  scheduledAt?: string | null;
}

/** Synchronous replication state (`sync`). */
export interface SyncState {
  leader: string | null;
  syncStandbys: string[];
  /** Quorum mode only. */
  quorum: number | null;
  keyVersion: number;
}

export type SyncStateInput = Omit<SyncState, 'keyVersion'>;

/** Written by the leader after each renewal (`status`): the last known primary LSN and slot positions. */
export interface ClusterStatus {
  lastLsn: bigint | null;
  slots: Record<string, bigint>;
  retainSlots: string[];
}

/**
 * The `failsafe` key (Patroni 3.0's failsafe_mode): every member the leader knew when it last wrote
 * the key, name → REST API URL (`…/patroni`, as Patroni writes it). Without the store, the primary
 * keeps running only while each of them accepts its `POST /failsafe`; a member missing from it may
 * not take the leader key. Written by the leader, never expires.
 */
export type FailsafeTopology = Record<string, string>;

/** A consistent snapshot of the cluster keys, read once per HA cycle. */
export interface ClusterView {
  /** System identifier of the cluster; '' while a bootstrap is in progress; null when absent. */
  initialize: string | null;
  config: ClusterConfig | null;
  leader: LeaderLock | null;
  /** Sorted by name. */
  members: Member[];
  history: ClusterHistory | null;
  failover: FailoverRequest | null;
  sync: SyncState | null;
  /** Empty (`lastLsn: null`) when the key is absent. */
  status: ClusterStatus;
  /** The `failsafe` key; null/absent when there is none or it does not hold a JSON object of strings. */
  failsafe?: FailsafeTopology | null;
}

/** Why `watch` returned. */
export type WatchResult = 'changed' | 'timeout' | 'aborted';

export interface WatchOptions {
  /**
   * The view the caller acted on: if the watched keys already differ from it, `watch` returns
   * `changed` at once, so a change between `getCluster` and `watch` is never slept through.
   */
  view?: ClusterView;
  /** Cuts the wait short (REST actions wake the loop this way). */
  signal?: AbortSignal;
}

/**
 * The operations the HA loop needs, bound to one member (`memberName`) of one cluster. Each call
 * is bounded by retry_timeout and throws `DcsUnavailable` when the store cannot answer in time;
 * conditional writes return false when their condition does not hold (a lost race is not an error).
 *
 * Conditions: `ifVersion` is a key version from the view (0 = create only if absent); omitted =
 * unconditional.
 */
export interface Dcs {
  readonly memberName: string;

  /** A linearizable read of all cluster keys (a view older than a committed write is not allowed). */
  getCluster(): Promise<ClusterView>;

  /**
   * Create the leader key with our name if absent. For the one client that created it: the
   * monotonic ms until which it may believe it holds the key (lease.ts: counted from when the write
   * was sent, shortened by the clock-rate bound); null for everyone else. This is the ONE lease
   * belief: the agent keeps what this returns and computes no deadline of its own.
   */
  attemptToAcquireLeader(ttlMs: number): Promise<LeaseDeadline>;

  /**
   * Renew the leader key if it still holds our name (its lease restarts at the store's apply time),
   * then publish `status` (lastLsn, slots, and retainSlots when given: otherwise the stored list stays).
   * The new lease deadline, as for `attemptToAcquireLeader`;
   * null if the key is gone or held by someone else. A call that throws (outcome unknown) gives
   * no deadline, so the caller keeps the last confirmed one. The status write is best effort: the
   * lease was renewed even if it fails.
   */
  updateLeader(ttlMs: number, lastLsn: bigint | null, slots?: Record<string, bigint>, retainSlots?: readonly string[]): Promise<LeaseDeadline>;

  /** Delete the leader key if it holds our name; `lastLsn` (a clean shutdown checkpoint) goes to `status` first. */
  deleteLeader(lastLsn?: bigint | null): Promise<boolean>;

  /** Write our member key with a TTL (it disappears `ttlMs` after the last touch). */
  touchMember(data: MemberData, ttlMs: number): Promise<void>;

  /** `create: true` races for the key (create-if-absent); `create: false` overwrites (bootstrap winner writes the sysid). */
  initialize(systemIdentifier: string, options: { create: boolean }): Promise<boolean>;

  /** Remove `initialize` after a failed bootstrap, so another member can try. */
  cancelInitialization(): Promise<void>;

  setConfig(data: Record<string, unknown>, ifVersion?: number): Promise<boolean>;

  setFailover(request: FailoverRequestInput, ifVersion?: number): Promise<boolean>;
  deleteFailover(ifVersion?: number): Promise<boolean>;

  setHistory(lines: readonly TimelineSwitch[]): Promise<void>;

  setSyncState(state: SyncStateInput, ifVersion?: number): Promise<boolean>;
  deleteSyncState(ifVersion?: number): Promise<boolean>;

  setStatus(status: ClusterStatus): Promise<void>;

  /** Overwrite the `failsafe` key (the leader does, with failsafe_mode on, when the members changed). */
  setFailsafe(topology: FailsafeTopology): Promise<void>;

  /** Remove every key of the cluster (`hactl remove`). */
  deleteCluster(): Promise<void>;

  /**
   * Sleep up to `waitMs`, returning early with `changed` when the leader key changes holder, is
   * deleted or expires, or when `failover`, `config` or `initialize` change. Renewals by the same
   * holder and member/status touches do not wake it: they happen every loop and would turn the
   * sleep into a busy loop. This is what lets replicas start the leader race the moment the key
   * expires instead of at their next cycle.
   */
  watch(waitMs: number, options?: WatchOptions): Promise<WatchResult>;

  /** retry_timeout is dynamic configuration: the agent passes the cluster's value after each read of `config`. */
  setRetryTimeout(ms: number): void;

  /**
   * The agent is shutting down as the leader-key holder and is about to stop PostgreSQL and release
   * the key: move now whatever the store can move in parallel (the Raft store hands its Raft
   * leadership to a peer), so that the release and the replicas' race meet a settled store.
   * Never throws; a store with nothing to do resolves at once.
   */
  prepareShutdown(): Promise<void>;

  /**
   * Issue 17: what another process (the fence) needs to give our leader key up exactly as we hold it
   * now — the key, our name, the version or lease of our last CONFIRMED acquire/renewal — and where
   * the store can be reached without this agent. Null when we hold no confirmed claim (or the store
   * cannot be reached from outside the agent: the memory store of tests).
   */
  leaderRelease?(): LeaderRelease | null;

  /** Release resources (timers, connections). The object is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * A leader-key release another process can carry out (src/dcs/leader-release.ts). The delete compares
 * the exact write it names, never the holder alone when the write is known, so a release that comes
 * late — after the key expired and someone, or this member's next incarnation, took it — deletes nothing.
 */
export interface LeaderRelease {
  key: string;
  holder: string;
  /** Raft store: the version (Raft index) of our last confirmed write of the key; null: unknown. */
  version: number | null;
  /** etcd: the lease our last confirmed write put the key on (a new acquire or a restarted agent grants a new one). */
  lease: string | null;
  store: ReleaseStore;
}

/** Where a release can be sent (every member: any reachable one will do). Holds secrets: never logged. */
export type ReleaseStore =
  | { kind: 'raft'; addrs: string[]; password: string | null; clusterName: string }
  | { kind: 'etcd3'; section: Record<string, unknown> };

/**
 * Monotonic ms, on the clock the store was given (the HA loop's: performance.now() in production),
 * until which a confirmed leader-key write may be believed; null when the write did not take.
 */
export type LeaseDeadline = number | null;
