/**
 * Inputs and output of the pure HA decision (decide.ts). The loop gathers the inputs (one DCS read,
 * one local PostgreSQL probe, the REST answers of peers when a race or switchover needs them),
 * calls `decide`, logs `reason`, and executes the action.
 */
import type { ClusterView, MemberTags } from '../../dcs/index.js';
import type { StandbyCluster } from './standby-cluster.js';

/** What the local PostgreSQL is doing, as the loop observed it this cycle. */
export interface LocalPostgresState {
  /**
   * `primary`/`replica`: running and answering (in recovery or not). `starting`: postmaster up, not
   * yet accepting connections. `stopped`: cleanly not running. `crashed`: not running after an
   * unclean stop, or a start that failed.
   */
  role: 'primary' | 'replica' | 'starting' | 'stopped' | 'crashed';
  /** `empty`: nothing to run (bootstrap or clone needed). `invalid`: not empty but not a usable data directory. */
  dataDir: 'empty' | 'valid' | 'invalid';
  /** From pg_controldata; null when unknown (empty data dir). */
  systemIdentifier: string | null;
  timeline: number | null;
  /** Primary: current WAL write position. */
  writeLsn: bigint | null;
  /** Replica: last WAL received / replayed. */
  receivedLsn: bigint | null;
  replayedLsn: bigint | null;
  /**
   * pg_stat_wal_receiver says `streaming` (Patroni's replication_state() 'streaming'); absent: not
   * known to stream. primary_race_backoff counts a moved WAL position only while streaming.
   */
  walReceiverStreaming?: boolean;
  /** Member name the replica's primary_conninfo points at; null when none or unknown. */
  receivingFrom: string | null;
  /**
   * pg_controldata says the cluster ran as a primary when it stopped (`in production`, `shut
   * down` without standby.signal …): a crashed primary can restart in place as primary.
   */
  wasPrimary: boolean;
  pendingRestart: boolean;
  /** pg_rewind would work here: wal_log_hints on or data checksums (Patroni's can_rewind minus the config flag). */
  rewindCapable: boolean;
}

/** The answer of another member's `GET /patroni`, fetched by the loop in parallel with a short timeout. */
export interface MemberHealth {
  name: string;
  /** False when the request failed or timed out: such a member is ignored, as Patroni does. */
  reachable: boolean;
  /** Not in recovery = a running primary. */
  role: 'primary' | 'replica' | 'standby_leader' | 'unknown';
  state: string;
  /** max(received, replayed) for a replica; the write position for a primary. */
  walLsn: bigint | null;
  timeline: number | null;
  nofailover: boolean;
  failoverPriority: number;
  /** `watchdog_failed` in /patroni: a required watchdog that does not work disqualifies the member. */
  watchdogFailed: boolean;
  /**
   * Why the member's fence would refuse the leader key (its `fence` in /patroni: mode on, process
   * not running), or null/absent: such a member does not take the key (fence/policy.ts), so the
   * others must not defer to it.
   */
  fenceVeto?: string | null;
}

/** Settings decide reads: the effective dynamic config (from the `config` key) plus this member's local ones. */
export interface HaConfig {
  name: string;
  tags: MemberTags;
  ttlMs: number;
  loopWaitMs: number;
  retryTimeoutMs: number;
  maximumLagOnFailoverBytes: bigint;
  primaryStartTimeoutMs: number;
  /** primary_stop_timeout in synchronous mode (config.ts primaryStopBoundMs); absent/null: none. */
  primaryStopBoundMs?: number | null;
  checkTimeline: boolean;
  usePgRewind: boolean;
  removeDataDirectoryOnRewindFailure: boolean;
  removeDataDirectoryOnDivergedTimelines: boolean;
  pause: boolean;
  /** The config has a `bootstrap` section, so this member may initdb a new cluster. */
  canBootstrap: boolean;
  /**
   * A method of create_replica_methods runs without a leader (`no_leader`): with no leader, an empty
   * member restores itself as a replica instead of waiting (Patroni's "bootstrap (without leader)").
   */
  canCloneWithoutLeader?: boolean;
  /**
   * Worst-case time to stop PostgreSQL in `immediate` mode and know it stopped. The leader that
   * cannot renew starts demoting this long (plus one cycle) before its lease ends — see lease-loss.ts.
   */
  demoteTimeMs: number;
  /**
   * Dynamic `synchronous_mode` (off/on/quorum): with it, only members listed in the `sync` key may
   * take over (sync-race.ts). Absent = off.
   */
  synchronousMode?: 'off' | 'on' | 'quorum';
  /**
   * The dynamic `standby_cluster` section (standby-cluster.ts): the leader is a standby leader
   * following the remote, and no member may run writable. Absent/null = an ordinary cluster.
   */
  standbyCluster?: StandbyCluster | null;
  /**
   * Dynamic `primary_race_backoff` in ms (Patroni master, after 4.0; primary-race-backoff.ts): a
   * replica whose WAL still moves postpones the leader race this long. Absent or 0: off.
   */
  primaryRaceBackoffMs?: number;
  /**
   * Dynamic `failsafe_mode` (failsafe.ts): without the store a primary keeps running while every
   * member of the last known `failsafe` key accepts its POST /failsafe. Absent = off.
   */
  failsafeMode?: boolean;
}

/** Long actions run by the executor in the background (Patroni's AsyncExecutor). */
export type LongActionName =
  | 'bootstrap'
  | 'clone'
  | 'promote'
  | 'demote'
  | 'restart'
  | 'starting primary after failure'
  | 'rewind'
  | 'reinitialize'
  | 'doing crash recovery in a single user mode'
  /** A replica copies logical slots from the primary (slot-keeper.ts): stopped, state files written, started. */
  | 'copy logical slots';

/** Whether this member's data has diverged from a given leader's timeline (src/postgres decideDivergence). */
export interface DivergenceVerdict {
  leader: string;
  diverged: boolean;
}

/** State the loop keeps between cycles on behalf of decide. */
export interface HaSelfState {
  /**
   * Monotonic ms until which this member may believe it holds the leader key: from the last
   * CONFIRMED acquire/renewal, counted from when that write was sent (src/raft/kv holderDeadlineMs).
   * Null when it does not hold it or never confirmed a write in this process.
   */
  leaseDeadlineMonoMs: number | null;
  /** A long action in progress, with when it started (monotonic ms). */
  longAction: { name: LongActionName; startedMonoMs: number } | null;
  /** Monotonic ms when PostgreSQL began starting (for primary_start_timeout); null when not starting. */
  startingSinceMonoMs: number | null;
  /** Result of the last divergence check, for the leader it was made against. */
  divergence: DivergenceVerdict | null;
  /** The last pg_rewind against that leader failed. */
  rewindFailed: boolean;
  /**
   * The key holder's last start of its crashed primary failed (Patroni's post_recover): the next cycle
   * with a view of the store gives the key up instead of retrying a start that fails the same way.
   */
  primaryStartFailed?: boolean;
  /**
   * Monotonic ms until which this member stays out of the leader race: its pre_promote script
   * failed and it gave the key back (Patroni waits a ttl so another member can take it).
   */
  raceBackoffUntilMonoMs?: number | null;
  /**
   * The WAL position (walPosition: max of received and replayed on a replica) the previous cycle
   * observed, while the server answered (Patroni's `_prev_wal_lsn`); null/absent: none yet.
   */
  walLsnLastCycle?: bigint | null;
  /**
   * Monotonic ms when primary_race_backoff's countdown started (Patroni's
   * `_primary_race_backoff_timestamp`): set by the first leaderless cycle it applies to, cleared
   * when the store shows a leader again. The loop stores what decide reports (Decision field).
   */
  primaryRaceBackoffSinceMonoMs?: number | null;
}

/** One member's answer to this cycle's POST /failsafe. */
export interface FailsafeAnswer {
  name: string;
  /** 200 with the body `Accepted` (Patroni's test). */
  accepted: boolean;
  /** What it said (status and text), or why it did not answer. */
  detail: string;
}

/** The POST /failsafe round the loop made this cycle (the primary, store unreachable, failsafe_mode on). */
export interface FailsafeRound {
  /** Monotonic ms when the requests were sent: the members' promise is counted from after this. */
  sentAtMonoMs: number;
  answers: FailsafeAnswer[];
  /** Nobody was asked: no failsafe key known, or this member is not in it (Patroni gives up then). */
  refused: string | null;
}

/** What failsafe mode adds to decide's input (gathered by the loop, failsafe-state.ts). */
export interface FailsafeFacts {
  /** This cycle's round (primary without the store); null when none was made. */
  round: FailsafeRound | null;
  /**
   * A replica: the leader whose POST /failsafe it accepted less than ttl ago. It promised not to race
   * while that lasts, as Patroni's replicas take the leader for alive; null when none.
   */
  pingedBy: string | null;
  /**
   * The WAL position the last accepted POST /failsafe reported, until the store shows a leader again
   * (failsafe-state.ts): the race measures lag against it as well as against `status`. Absent: none.
   */
  leaderLsn?: bigint | null;
  /**
   * The slot positions the POST /failsafe accepted less than ttl ago carried (failsafe-state.ts), null
   * when none: a replica advances its permanent slots to them (failsafe.ts replicaSlotSource). Absent: none.
   */
  leaderSlots?: Record<string, bigint> | null;
}

export interface DecideInput {
  /** The view read this cycle; when `dcsOk` is false, the last good one (or null if none yet). */
  view: ClusterView | null;
  /** False when this cycle's DCS read or leader-key write threw DcsUnavailable. */
  dcsOk: boolean;
  local: LocalPostgresState;
  config: HaConfig;
  /** REST answers of the other members; the loop collects them when `needsMemberHealth` says so, else []. */
  memberHealth: MemberHealth[];
  /** Wall-clock ms since the epoch: only for `scheduled_at` of switchovers, which is a wall-clock time. */
  nowMs: number;
  /** Monotonic ms (performance.now()): for leases and timeouts. */
  monoNowMs: number;
  self: HaSelfState;
  /** failsafe_mode's facts (absent: none, as with the mode off). */
  failsafe?: FailsafeFacts;
}

/** An INFO/WARNING line the loop logs before the cycle's status line (Patroni's intermediate messages). */
export interface Note {
  level: 'info' | 'warning' | 'error';
  message: string;
}

/**
 * How PostgreSQL is stopped when demoting (Patroni's modes): `graceful` checkpoints first (a
 * planned handover); `immediate` stops at once without a checkpoint, bounded in time, for when
 * another member may take over any moment. Patroni's `offline` and `immediate-nolock` are
 * `immediate` with `releaseLeader: false`.
 */
export type DemoteMode = 'graceful' | 'immediate';

interface Base {
  /** The cycle's log line, with Patroni's wording where one exists (prefixed `PAUSE: ` when paused). */
  reason: string;
  notes: Note[];
  /** Delete the failover key at this version first (a stale or refused request: "Cleaning up failover key"). */
  clearFailover?: number;
  /** Write our system identifier to `initialize` first (adopting an existing data directory). */
  writeInitialize?: string;
  /**
   * The new value of HaSelfState.primaryRaceBackoffSinceMonoMs (the countdown started, or reset
   * because a leader is back); absent: unchanged. decide stays pure, the loop keeps the state.
   */
  primaryRaceBackoffSinceMonoMs?: number | null;
}


/**
 * After a leader-key write that took: keep (or make) the running standby streaming from `leader`
 * (a member, or the standby cluster's remote), as the `follow` action does.
 */
export interface FollowStep {
  leader: string;
  repoint: boolean;
  checkDivergence: boolean;
}

/** Decisions whose first step is a leader-key write carry what to do if that write returns false. */
interface LockStep {
  /** Executed instead when the leader-key write returns false (the race or the lease is lost). */
  ifLockLost: Decision;
}

export type Decision =
  /** Report only. */
  | (Base & { action: 'no-action' })
  /** Stop the agent: continuing could damage data (Patroni's fatal exits). */
  | (Base & { action: 'fatal' })
  /**
   * Race for `initialize` (create-if-absent), then initdb; if lost, `ifLockLost`. `standby`: a
   * standby cluster's first member copies the remote instead and becomes the standby leader.
   */
  | (Base & LockStep & { action: 'bootstrap'; standby?: boolean })
  | (Base & { action: 'wait-for-initialize' })
  /** Create the data directory from `from` (pg_basebackup). */
  /** `from` null: no leader, the replica methods that need none (no_leader) restore the member. */
  | (Base & { action: 'clone'; from: string | null; fromLeader: boolean })
  /**
   * No store, but every member of the failsafe key accepted this cycle's POST /failsafe: keep the
   * primary running until `untilMonoMs` (the fence is armed and the watchdog fed to that deadline).
   */
  | (Base & { action: 'keep-failsafe'; untilMonoMs: number })
  /** Renew our leader key (the primary carries on, or a long action continues); a standby leader then follows the remote. */
  | (Base & LockStep & { action: 'renew'; follow?: FollowStep })
  /** Renew our leader key, then promote the local replica. */
  | (Base & LockStep & { action: 'promote' })
  /**
   * Create the leader key (create-if-absent); if won, promote unless already primary, and clean the
   * failover key. With `follow` (a standby cluster) it never promotes: it follows the remote instead.
   */
  | (Base & LockStep & { action: 'acquire-and-promote'; promote: boolean; failoverVersion: number | null; follow?: FollowStep })
  /** Renew our leader key, then start the crashed primary in place (timeline unchanged). */
  | (Base & LockStep & { action: 'restart-primary' })
  /**
   * Stop the primary and make it a replica of `leader` (null: none known yet), aborting any long
   * action in flight. `releaseLeader`: delete our leader key once stopped (false when it is no
   * longer ours or the store is unreachable). `keepLeader`: keep our key and its lease (Patroni's
   * `demote-cluster`: the primary of a cluster turned into a standby cluster becomes its standby leader).
   * `offline` (Patroni's demote('offline'), the store unreachable): started again at once as a read-only
   * standby of nobody, so reads go on; the first cycle with a leader checks divergence before streaming.
   */
  | (Base & { action: 'demote'; mode: DemoteMode; releaseLeader: boolean; leader: string | null; keepLeader?: boolean; offline?: boolean })
  /** Keep (or make) the running replica streaming from `leader`; null = leave the upstream alone. */
  | (Base & { action: 'follow'; leader: string | null; repoint: boolean; checkDivergence: boolean })
  /**
   * Start the stopped/crashed PostgreSQL as a replica of `leader`. With `checkDivergence` (also on
   * `follow`) the executor first compares timelines with the leader (src/postgres decideDivergence);
   * if diverged it records the verdict in HaSelfState and does not act, so the next cycle rewinds.
   */
  /**
   * `keepLease` (here and on `rewind`): a standby leader renews its key first, so a start or rewind
   * longer than ttl does not cost it the key; a failed renewal changes nothing (it only makes a standby).
   */
  | (Base & { action: 'start-as-replica'; leader: string | null; checkDivergence: boolean; keepLease?: boolean })
  /** Stop PostgreSQL (a start that must not go on: the lock was lost, or it timed out). */
  | (Base & { action: 'stop'; releaseLeader: boolean })
  /**
   * pg_rewind, then follow `leader`. `source`: rewind from there instead (a standby cluster's remote
   * primary: a standby leader is in recovery, and pg_rewind wants a source that is not).
   */
  | (Base & { action: 'rewind'; leader: string; source?: string; keepLease?: boolean })
  /** Remove the data directory and clone again from `leader` (configured for diverged timelines / failed rewind). */
  | (Base & { action: 'reinit'; leader: string })
  /** Diverged and nothing may fix it automatically: report and wait for `hactl reinit`. */
  | (Base & { action: 'reinit-needed'; leader: string })
  /**
   * Renew our leader key, then switch over: demote gracefully and delete the key once the candidate
   * has received the shutdown checkpoint (`candidate` null: any healthy member). `notBeforeMs`:
   * wall-clock time to wait for (a scheduled switchover due within this loop).
   */
  | (Base & LockStep & { action: 'hand-over'; candidate: string | null; kind: 'switchover' | 'failover'; notBeforeMs: number | null; failoverVersion: number })
  /**
   * Delete our leader key (PostgreSQL is not a primary we can keep serving). `demoted`: the start of
   * our crashed primary failed, so the member reports role `demoted` (on_role_change) as it lets go.
   */
  | (Base & { action: 'release-leader'; demoted?: boolean })
  /** Abort the long action in progress (a promote after the key was lost). */
  | (Base & { action: 'cancel-long-action' });

export type Action = Decision['action'];
