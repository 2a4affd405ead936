/**
 * Inputs and output of the pure HA decision (decide.ts). The loop gathers the inputs (one DCS read,
 * one local PostgreSQL probe, the REST answers of peers when a race or switchover needs them),
 * calls `decide`, logs `reason`, and executes the action.
 */
import type { ClusterView, MemberTags } from '../../dcs/index.js';

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
  checkTimeline: boolean;
  usePgRewind: boolean;
  removeDataDirectoryOnRewindFailure: boolean;
  removeDataDirectoryOnDivergedTimelines: boolean;
  pause: boolean;
  /** The config has a `bootstrap` section, so this member may initdb a new cluster. */
  canBootstrap: boolean;
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
  | 'doing crash recovery in a single user mode';

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
  /** Race for `initialize` (create-if-absent), then initdb; if lost, `ifLockLost`. */
  | (Base & LockStep & { action: 'bootstrap' })
  | (Base & { action: 'wait-for-initialize' })
  /** Create the data directory from `from` (pg_basebackup). */
  | (Base & { action: 'clone'; from: string; fromLeader: boolean })
  /** Renew our leader key, nothing else (the primary carries on, or a long action continues). */
  | (Base & LockStep & { action: 'renew' })
  /** Renew our leader key, then promote the local replica. */
  | (Base & LockStep & { action: 'promote' })
  /** Create the leader key (create-if-absent); if won, promote unless already primary, and clean the failover key. */
  | (Base & LockStep & { action: 'acquire-and-promote'; promote: boolean; failoverVersion: number | null })
  /** Renew our leader key, then start the crashed primary in place (timeline unchanged). */
  | (Base & LockStep & { action: 'restart-primary' })
  /**
   * Stop the primary and make it a replica of `leader` (null: none known yet), aborting any long
   * action in flight. `releaseLeader`: delete our leader key once stopped (false when it is no
   * longer ours or the store is unreachable).
   */
  | (Base & { action: 'demote'; mode: DemoteMode; releaseLeader: boolean; leader: string | null })
  /** Keep (or make) the running replica streaming from `leader`; null = leave the upstream alone. */
  | (Base & { action: 'follow'; leader: string | null; repoint: boolean; checkDivergence: boolean })
  /**
   * Start the stopped/crashed PostgreSQL as a replica of `leader`. With `checkDivergence` (also on
   * `follow`) the executor first compares timelines with the leader (src/postgres decideDivergence);
   * if diverged it records the verdict in HaSelfState and does not act, so the next cycle rewinds.
   */
  | (Base & { action: 'start-as-replica'; leader: string | null; checkDivergence: boolean })
  /** Stop PostgreSQL (a start that must not go on: the lock was lost, or it timed out). */
  | (Base & { action: 'stop'; releaseLeader: boolean })
  | (Base & { action: 'rewind'; leader: string })
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
  /** Delete our leader key (PostgreSQL is not a primary we can keep serving). */
  | (Base & { action: 'release-leader' })
  /** Abort the long action in progress (a promote after the key was lost). */
  | (Base & { action: 'cancel-long-action' });

export type Action = Decision['action'];
