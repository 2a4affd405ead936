/**
 * Everything the HA loop reads from, or does to, the local PostgreSQL, as one interface: the
 * executor, observeLocal (inputs.ts), the slot keeper and synchronous replication go through it
 * and through nothing else. `postgres-control.ts` is the real one, on src/postgres;
 * test/helpers/fake-postgres.ts is a scripted fake, so the executor and the loop run in
 * milliseconds with the memory store and a manual clock (as MemoryDcs does for the store).
 *
 * Methods are the steps the loop takes, not PostgreSQL's commands: a new way of doing a step (a
 * custom replica or bootstrap method, a standby leader following a remote primary, callbacks
 * around a role change) is a new implementation or option of a step, and the executor stays as it
 * is. Every method may throw; the caller says what a failure means.
 */
import type {
  AppliedSlotPlan,
  BootstrapOptions,
  CloneSource,
  ControlData,
  CreateReplicaOptions,
  CreateReplicaResult,
  FollowResult,
  NodeRole,
  PostmasterStatus,
  PromoteResult,
  ReinitOptions,
  RewindResult,
  ServerState,
  SlotCopySource,
  StandbyTarget,
  StopMode,
  SyncSlotsInput,
  WantedSlot,
  WriteConfigurationResult,
} from '../../postgres/index.js';
import type { StandbyConnection } from './sync.js';

/** The data directory as found on disk. `empty`: nothing to run (bootstrap or clone). `invalid`: not empty, not usable. */
export interface DataDirectoryState {
  path: string;
  kind: 'empty' | 'valid' | 'invalid';
  /** standby.signal is present (PostgreSQL starts as a standby). */
  standbySignal: boolean;
  /**
   * backup_label is present: a base backup never started yet (PostgreSQL renames the file when its
   * recovery begins). Its pg_control is the source's, `in production` when copied from a primary.
   */
  backupLabel: boolean;
}

/** What the synchronous replication manager reads from the primary (sync-executor.ts). */
export interface SyncReplicationState {
  connections: StandbyConnection[];
  primaryLsn: bigint;
  /** synchronous_standby_names as in effect, and whether postgresql.auto.conf (ALTER SYSTEM) sets it. */
  ssn: string;
  managed: boolean;
}

export interface LocalPostgres {
  // ------------------------------------------------------------ observing (never changes anything)
  dataDirectory(): Promise<DataDirectoryState>;
  /** From postmaster.pid: running, stopped, or crashed (a stale pid file). */
  postmaster(): Promise<PostmasterStatus>;
  /** pg_controldata; throws when the control file cannot be read. */
  controlData(): Promise<ControlData>;
  /** The running server over SQL and the settings pending a restart; throws when it does not answer within `timeoutMs`. */
  serverState(timeoutMs: number): Promise<{ server: ServerState; pendingRestart: string[] }>;
  /** Text of the timeline history file `timeline` (pg_wal/XXXXXXXX.history); null when absent. */
  timelineHistory(timeline: number): Promise<string | null>;

  // ------------------------------------------------------------ running it
  /** Rewrites the managed configuration for `role` (postgresql.conf, recovery settings, standby.signal). */
  configure(role: NodeRole): Promise<WriteConfigurationResult>;
  start(): Promise<void>;
  /**
   * Throws when PostgreSQL does not stop within its timeout (pg_ctl's exit status). With `boundMs`
   * (primary_stop_timeout) each mode waits that long, and a server that still runs after the
   * immediate stop is killed with SIGKILL instead of failing (`killed`).
   */
  stop(mode: StopMode, boundMs?: number | null): Promise<{ killed: boolean }>;
  /** A CHECKPOINT over SQL (connection bounded to 2 s). */
  checkpoint(): Promise<void>;
  reload(): Promise<void>;
  /** A fast stop and a start that may take `startTimeoutMs` (default pg_ctl_timeout). */
  restart(startTimeoutMs: number | null): Promise<void>;

  // ------------------------------------------------------------ changing its role
  promote(): Promise<PromoteResult>;
  /** The CHECKPOINT pg_rewind needs on a new primary before others can rewind from it. */
  checkpointAfterPromote(): Promise<void>;
  /** Point a standby at a new primary (reload, or restart when the version needs it). */
  follow(target: StandbyTarget | null): Promise<FollowResult>;
  /**
   * The member stops being the primary while PostgreSQL is down (its start in place failed): nothing
   * changes on the server; the callbacks report role `demoted` (Patroni's post_recover).
   */
  markDemoted(): Promise<void>;
  /**
   * The running standby is, or stopped being, the standby cluster's leader (it holds the key and
   * streams from the remote): nothing changes on the server; the callbacks report `on_role_change
   * standby_leader`, and `replica` when it follows a member again (Patroni's follow()).
   */
  markStandbyLeader(leader: boolean): Promise<void>;

  // ------------------------------------------------------------ its data directory
  bootstrap(options: BootstrapOptions): Promise<void>;
  createReplica(options: CreateReplicaOptions): Promise<CreateReplicaResult>;
  /** Whether the local data left `source`'s timeline; `crashed`: bring it to a clean shutdown first (single-user mode). */
  divergence(source: CloneSource, crashed: boolean): Promise<{ diverged: boolean; reason: string }>;
  rewind(source: CloneSource, follow: StandbyTarget | null): Promise<RewindResult>;
  reinit(options: ReinitOptions): Promise<CreateReplicaResult>;

  // ------------------------------------------------------------ primary duties
  /** Slots as wanted: created, dropped, advanced; logical ones a standby lacks come back in `copy`. */
  syncSlots(input: SyncSlotsInput): Promise<AppliedSlotPlan>;
  /** Where the wanted slots stand (logical: confirmed_flush_lsn, physical: restart_lsn), changing nothing. */
  slotPositions(wanted: readonly WantedSlot[]): Promise<Record<string, bigint>>;
  /**
   * Copies logical slots from the primary at `source` onto this standby (stops and starts it: PostgreSQL
   * 15 cannot create a logical slot on a standby).
   */
  copyLogicalSlots(source: SlotCopySource, slots: readonly WantedSlot[]): Promise<{ copied: string[]; problems: string[] }>;
  syncReplicationState(): Promise<SyncReplicationState>;
  /** ALTER SYSTEM (works on a standby too: it only writes postgresql.auto.conf) and reload. */
  setSynchronousStandbyNames(value: string): Promise<void>;
}
