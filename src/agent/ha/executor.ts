/**
 * Carries out one Decision (decide.ts) against the DCS and the local PostgreSQL, and keeps the
 * state decide reads back next cycle (HaSelfState): the lease belief, the long action, the
 * divergence verdict.
 *
 * Contract (decide.ts header): `clearFailover` / `writeInitialize` first; actions that start with a
 * leader-key write run `ifLockLost` instead when that write returns false; the cycle's status line
 * is logged once the action is known to be the one carried out. A DcsUnavailable thrown from here
 * goes back to the loop, which decides again with `dcsOk: false`.
 *
 * Parts: lease-keeper.ts (the lease belief, watchdog, fence), demotion.ts (demotion and switchover
 * handover, through stop-primary.ts, the one way a primary stops), long-actions.ts (bootstrap, clone,
 * promote, rewind, reinit, restarts), member-slots.ts (replication slots), cycle-log.ts (the status
 * line), and the PostgreSQL seam local-postgres.ts, through which every step reaches the server.
 */
import type { DynamicConfig, HactlConfig } from '../../config/index.js';
import type { ClusterView, Dcs } from '../../dcs/index.js';
import type { BasebackupProgress, BootstrapOptions, CloneSource, StandbyTarget } from '../../postgres/index.js';
import type { LineLogger } from '../../logger.js';
import { messageOf } from '../error-text.js';
import type { FenceHooks } from '../fence/index.js';
import { useSlots } from '../settings.js';
import type { Watchdog } from '../watchdog/index.js';
import type { LocalObservation } from './inputs.js';
import { LeaseKeeper } from './lease-keeper.js';
import type { LocalPostgres } from './local-postgres.js';
import { CycleLog } from './cycle-log.js';
import { ABORT_WAIT_MS, demote, handOver, type DemotionContext } from './demotion.js';
import { LongActionRunner } from './long-action-runner.js';
import {
  bootstrapCluster,
  bootstrapStandbyLeader,
  cloneReplica,
  configData,
  promoteSelf,
  reinitFrom,
  restartCrashedPrimary,
  rewindFrom,
  type ActionContext,
  type ExecutorMemory,
  type LongActionBody,
} from './long-actions.js';
import { memberAddress, sourceAddress, upstreamTarget } from './member-addresses.js';
import { MemberSlots } from './member-slots.js';
import { followLeader, startAsReplica } from './replica-steps.js';
import { SyncManager } from './sync-executor.js';
import type { StandbyCluster } from './standby-cluster.js';
import type { DecideInput, Decision, FollowStep, HaSelfState, LongActionName } from './types.js';

export interface ExecutorEnv {
  dcs: Dcs;
  postgres: LocalPostgres;
  local(): HactlConfig;
  bootstrapOptions(): BootstrapOptions;
  logger: LineLogger;
  watchdog: Watchdog | null;
  /** The fence process (issue 9): armed after each confirmed leader-key write, released once PostgreSQL is no primary. */
  fence?: FenceHooks | null;
  monoNow(): number;
  /** Wall-clock ms (scheduled switchovers are wall-clock times). */
  wallNow?(): number;
  /** A fatal decision: the agent must stop (Patroni exits). */
  onFatal(reason: string): void;
  /** Cut the loop's sleep short (a long action finished). */
  wakeup(): void;
}

/** What the executor needs about the cycle it acts in. */
export interface CycleState {
  input: DecideInput;
  view: ClusterView | null;
  dynamic: DynamicConfig;
  observation: LocalObservation;
}

export class HaExecutor {
  readonly memory: ExecutorMemory = {
    self: { leaseDeadlineMonoMs: null, longAction: null, startingSinceMonoMs: null, divergence: null, rewindFailed: false },
    upstream: null,
    basebackup: null,
  };
  /** Set while an action makes the member state differ from what PostgreSQL shows (member key `state`). */
  readonly runner: LongActionRunner;
  /**
   * What last stopped bootstrap, start, clone, rewind, … from progressing (PostgreSQL's text and what to
   * change), until the member runs again; GET /patroni shows it as `problem`.
   */
  problem: { action: string; message: string; atMs: number } | null = null;
  /** Synchronous replication on the leader (sync-executor.ts). */
  readonly sync: SyncManager;
  readonly lease: LeaseKeeper;
  /** Replication slots (member-slots.ts); the loop reads the positions a POST /failsafe carries. */
  readonly slots: MemberSlots;
  /** The dynamic config of the cycle being executed (a long action that outlives it uses the latest one). */
  private lastDynamic: DynamicConfig | null = null;
  /** The running long action reported a problem itself. */
  private problemFromAction = false;
  private readonly cycleLog: CycleLog;
  private readonly actions: ActionContext;

  constructor(private readonly env: ExecutorEnv) {
    this.sync = new SyncManager({ dcs: env.dcs, logger: env.logger });
    this.cycleLog = new CycleLog(env.logger, () => env.local().log.deduplicate_heartbeat_logs);
    this.slots = new MemberSlots({ postgres: env.postgres, logger: env.logger, local: env.local, monoNow: env.monoNow });
    this.lease = new LeaseKeeper({ dcs: env.dcs, logger: env.logger, watchdog: env.watchdog, fence: env.fence ?? null }, this.memory.self);
    this.runner = new LongActionRunner(
      env.monoNow,
      (name, err) => {
        env.logger.error(`${name} failed: ${messageOf(err)}`);
        this.reportProblem(name, messageOf(err));
        // Not set for an aborted start: the demotion that aborted it decided what happens to the key.
        if (name === 'starting primary after failure') this.memory.self.primaryStartFailed = true;
      },
      (_name, ok) => {
        this.memory.self.longAction = null;
        this.memory.basebackup = null;
        // A success clears the member's problem, unless the action itself reported one (a failed initdb).
        if (ok && !this.problemFromAction) this.clearProblem();
        // After a failure the normal loop_wait passes before a retry (a clone from a leader that is
        // not up yet must not spin).
        if (ok) env.wakeup();
      },
    );
    this.actions = {
      pg: env.postgres,
      dcs: env.dcs,
      logger: env.logger,
      lease: this.lease,
      sync: this.sync,
      memory: this.memory,
      local: env.local,
      bootstrapOptions: env.bootstrapOptions,
      onFatal: env.onFatal,
      monoNow: env.monoNow,
      reportProblem: (action, message) => {
        this.problemFromAction = true;
        this.reportProblem(action, message);
      },
      slotsChanged: async (view, now) => {
        this.slots.reset();
        if (now && view && this.lastDynamic) await this.slots.keep(this.lastDynamic, view, 'leader');
      },
    };
  }

  reportProblem(action: string, message: string): void {
    this.problem = { action, message, atMs: Date.now() };
  }

  clearProblem(): void {
    this.problem = null;
  }

  /** HaSelfState as the executor keeps it (the REST API reads the lease belief and fixes divergence after a reinit). */
  get self(): HaSelfState {
    return this.memory.self;
  }

  get upstream(): string | null {
    return this.memory.upstream;
  }

  get basebackup(): BasebackupProgress | null {
    return this.memory.basebackup;
  }

  /** Self state as decide must see it now (the long action may have ended since the last cycle). */
  snapshot(): HaSelfState {
    this.memory.self.longAction = this.runner.current;
    return { ...this.memory.self };
  }

  async execute(decision: Decision, cycle: CycleState): Promise<Decision> {
    const { dcs } = this.env;
    this.lastDynamic = cycle.dynamic;
    // PostgreSQL answers SQL: whatever start was under way is over (the next crash starts a new clock).
    if (cycle.input.local.role === 'primary' || cycle.input.local.role === 'replica') this.memory.self.startingSinceMonoMs = null;
    if (decision.clearFailover !== undefined) await dcs.deleteFailover(decision.clearFailover);
    if (decision.writeInitialize !== undefined) await dcs.initialize(decision.writeInitialize, { create: true });
    const done = await this.run(decision, cycle);
    // A steady replica only: a re-pointed or restarted one looks again next cycle.
    if ((done.action === 'follow' && !done.repoint) || done.action === 'no-action') await this.keepReplicaSlots(cycle);
    // Patroni's `recovering` flag: read by the first cycle that had a view of the store (one that
    // failed on the store keeps it for the next), then forgotten.
    if (cycle.input.self.primaryStartFailed && cycle.input.dcsOk && cycle.view) this.memory.self.primaryStartFailed = false;
    return done;
  }

  /**
   * POST /restart: a fast restart as a long action (the API checked the conditions). Resolves
   * with whether PostgreSQL came back; null when another action runs.
   */
  startRestart(startTimeoutMs: number | null = null): Promise<boolean> | null {
    let settle: (ok: boolean) => void = () => {};
    const done = new Promise<boolean>((resolve) => (settle = resolve));
    const started = this.startLong('restart', async () => {
      try {
        await this.env.postgres.restart(startTimeoutMs);
        settle(true);
      } catch (err) {
        settle(false);
        throw err; // the runner logs "restart failed: …"
      }
    });
    return started ? done : null;
  }

  /** POST /reinitialize: remove the data directory and clone from `leader` (the API aborted what ran). */
  startReinitialize(leader: string, source: CloneSource, follow: StandbyTarget | null): void {
    this.startLong('reinitialize', reinitFrom(this.actions, leader, source, follow));
  }

  /** Starts a long action; decide saw none running, so a conflict here is a bug worth a loud log. */
  private startLong(name: LongActionName, body: LongActionBody): boolean {
    try {
      if (!this.runner.current) this.problemFromAction = false;
      this.runner.start(name, body);
      this.memory.self.longAction = this.runner.current;
      return true;
    } catch (err) {
      this.env.logger.error(messageOf(err));
      return false;
    }
  }

  private renew(cycle: CycleState): Promise<boolean> {
    const local = cycle.input.local;
    const lastLsn = local.role === 'primary' ? local.writeLsn : null;
    // A replica with a promote under way may be a primary by the time the fence would stand down.
    const promoting = this.runner.current?.name === 'promote';
    const seen = local.role === 'primary' || local.role === 'starting' || promoting ? 'primary' : local.role === 'replica' ? 'replica' : 'not-running';
    // A standby leader's lease guards nothing writable: no fence (decide stops any primary in a standby cluster first).
    const armFence = seen === 'primary' || !cycle.input.config.standbyCluster;
    return this.lease.renew(cycle.dynamic.ttl * 1000, lastLsn, cycle.input.config.pause, seen, armFence, this.slots.status(cycle.view, cycle.dynamic, lastLsn));
  }

  private remote(cycle: CycleState): StandbyCluster | null {
    return cycle.input.config.standbyCluster ?? null;
  }

  /** Where to stream from when following `leader` (a member, or a standby cluster's remote). */
  private target(cycle: CycleState, leader: string | null): StandbyTarget | null {
    return upstreamTarget(cycle.view, leader, this.env.local().name, useSlots(cycle.dynamic), this.remote(cycle));
  }

  /** Where `name` (a member, or a standby cluster's remote) answers: a clone, divergence check or rewind source. */
  private source(cycle: CycleState, name: string): CloneSource | null {
    return sourceAddress(cycle.view, name, this.remote(cycle));
  }

  /** The `follow` step after a leader-key write: a standby leader streaming from the remote. */
  private async followAfterLock(cycle: CycleState, step: FollowStep): Promise<void> {
    await followLeader(this.actions, this.source(cycle, step.leader), step.leader, this.target(cycle, step.leader), step);
    await this.env.postgres.markStandbyLeader(true);
  }

  private async run(decision: Decision, cycle: CycleState): Promise<Decision> {
    const { logger, postgres: pg } = this.env;
    const view = cycle.view;
    const paused = cycle.input.config.pause;
    switch (decision.action) {
      case 'no-action':
      case 'wait-for-initialize':
      case 'reinit-needed':
        this.cycleLog.status(decision);
        if (paused) this.lease.disableWatchdog();
        return decision;

      case 'keep-failsafe':
        await this.lease.failsafeConfirmed(decision.untilMonoMs, paused);
        this.cycleLog.status(decision);
        return decision;

      case 'fatal':
        this.cycleLog.notes(decision);
        logger.critical(decision.reason);
        this.env.onFatal(decision.reason);
        return decision;

      case 'renew': {
        // Patroni closes the watchdog at every paused cycle and opens it again at the first unpaused one.
        if (paused) this.lease.disableWatchdog();
        if (!(await this.renew(cycle))) return this.run(decision.ifLockLost, cycle);
        if (!paused && cycle.input.local.role === 'primary' && !(await this.lease.ensureWatchdog())) {
          await demote(this.demotion(cycle), { mode: 'immediate', releaseLeader: true, keepLeader: false, renew: () => this.renew(cycle), leader: null, target: null, offline: false });
          return decision;
        }
        this.cycleLog.status(decision);
        if (decision.follow) await this.followAfterLock(cycle, decision.follow);
        const primary = cycle.input.local.role === 'primary';
        if (primary && view && !paused) await this.slots.keep(cycle.dynamic, view, 'leader');
        // A standby leader keeps the slots its cascading replicas stream through (physical only).
        if (decision.follow && cycle.input.local.role === 'replica' && view) await this.slots.keep(cycle.dynamic, view, 'leader', cycle.input.local.replayedLsn);
        // Also in pause: which standbys commits wait for is about durability, not an automatic action.
        if (primary && view) await this.sync.manage(pg, view, cycle.dynamic, this.env.local().name);
        if (view && view.config === null) await this.env.dcs.setConfig(configData(this.env.local()), 0);
        return decision;
      }

      case 'promote': {
        if (!(await this.renew(cycle))) return this.run(decision.ifLockLost, cycle);
        if (!(await this.lease.armWatchdog())) {
          // decide promotes a replica it saw answer in recovery this cycle.
          await this.lease.release(null, cycle.input.local.role === 'replica' ? 'replica' : 'stopped');
          logger.info('Not promoting self because watchdog could not be activated');
          return decision;
        }
        this.cycleLog.status(decision);
        this.startPromote(cycle);
        return decision;
      }

      case 'acquire-and-promote': {
        if (!(await this.lease.acquire(cycle.dynamic.ttl * 1000, paused, !decision.follow))) return this.run(decision.ifLockLost, cycle);
        this.slots.leaderAcquired(view);
        // The request is fulfilled once the key is ours. A promotion deletes it after PostgreSQL was
        // signalled, not before: one store round trip less in the switchover's write gap (the POST
        // /switchover waiting on the old leader watches the leader key, not this one).
        const clearRequest = async () => {
          if (decision.failoverVersion !== null) await this.env.dcs.deleteFailover(decision.failoverVersion);
        };
        if (!decision.promote) await clearRequest();
        if (decision.follow) {
          // A standby leader: no watchdog (nothing writable to guard), no promotion.
          this.cycleLog.status(decision);
          await this.followAfterLock(cycle, decision.follow);
          if (view) await this.slots.keep(cycle.dynamic, view, 'leader', cycle.input.local.replayedLsn);
          return decision;
        }
        if (!(await this.lease.armWatchdog())) {
          if (decision.promote) await clearRequest();
          await this.lease.release(null, cycle.input.local.role === 'replica' ? 'replica' : 'stopped');
          logger.info(decision.promote ? 'Not promoting self because watchdog could not be activated' : 'Demoting self because watchdog could not be activated');
          return decision;
        }
        this.lease.keepalive();
        this.cycleLog.status(decision);
        if (decision.promote) {
          this.startPromote(cycle);
          await clearRequest();
        } else if (view) await this.slots.keep(cycle.dynamic, view, 'leader');
        return decision;
      }

      case 'restart-primary': {
        if (!(await this.renew(cycle))) return this.run(decision.ifLockLost, cycle);
        this.cycleLog.status(decision);
        // From the first attempt: a restart that fails and is tried again does not restart the clock
        // of primary_start_timeout (recover.ts gives the key up when it runs out).
        this.memory.self.startingSinceMonoMs ??= this.env.monoNow();
        this.startLong('starting primary after failure', restartCrashedPrimary(this.actions, view));
        return decision;
      }

      case 'hand-over': {
        if (!(await this.renew(cycle))) return this.run(decision.ifLockLost, cycle);
        this.cycleLog.status(decision);
        const waitMs = decision.notBeforeMs === null ? 0 : decision.notBeforeMs - (this.env.wallNow ?? Date.now)();
        await handOver(this.demotion(cycle), waitMs, paused);
        return decision;
      }

      case 'bootstrap': {
        if (!(await this.env.dcs.initialize('', { create: true }))) return this.run(decision.ifLockLost, cycle);
        this.cycleLog.status(decision);
        const remote = this.remote(cycle);
        if (decision.standby && remote) {
          this.startLong('bootstrap', bootstrapStandbyLeader(this.actions, remote, this.target(cycle, remote.name), cycle.dynamic.ttl * 1000, paused));
        } else {
          this.startLong('bootstrap', bootstrapCluster(this.actions, cycle.dynamic.ttl * 1000, paused));
        }
        return decision;
      }

      case 'clone': {
        this.cycleLog.status(decision);
        if (decision.from === null) {
          // No leader: only the no_leader methods run (createReplica skips the others), and the new
          // replica starts following nobody until a leader appears.
          this.startLong('clone', cloneReplica(this.actions, 'a backup (no leader)', null, null, null));
          return decision;
        }
        const source = memberAddress(view, decision.from);
        if (!source) {
          logger.warn(`cannot clone from ${decision.from}: its member key has no conn_url`);
          return decision;
        }
        const leaderName = view?.leader?.name ?? null;
        this.startLong('clone', cloneReplica(this.actions, decision.from, source, this.target(cycle, leaderName), leaderName));
        return decision;
      }

      case 'demote': {
        this.cycleLog.status(decision);
        await demote(this.demotion(cycle), {
          mode: decision.mode,
          releaseLeader: decision.releaseLeader,
          keepLeader: decision.keepLeader === true,
          offline: decision.offline === true,
          renew: () => this.renew(cycle),
          leader: decision.leader,
          target: this.target(cycle, decision.leader),
        });
        return decision;
      }

      case 'stop': {
        this.cycleLog.status(decision);
        await this.runner.abort(ABORT_WAIT_MS);
        this.lease.disableWatchdog();
        await pg.stop('immediate');
        await this.lease.primaryStopped('PostgreSQL stopped');
        this.memory.self.startingSinceMonoMs = null;
        if (decision.releaseLeader) await this.lease.release();
        return decision;
      }

      case 'release-leader': {
        this.cycleLog.status(decision);
        if (decision.demoted) {
          this.memory.self.startingSinceMonoMs = null;
          await pg.markDemoted();
        }
        await this.lease.release(null, cycle.input.local.role === 'replica' ? 'replica' : 'stopped');
        return decision;
      }

      case 'cancel-long-action': {
        this.cycleLog.status(decision);
        await this.runner.abort(ABORT_WAIT_MS);
        return decision;
      }

      case 'follow': {
        this.cycleLog.status(decision);
        if (decision.leader !== null) await followLeader(this.actions, this.source(cycle, decision.leader), decision.leader, this.target(cycle, decision.leader), decision);
        await pg.markStandbyLeader(false);
        return decision;
      }

      case 'start-as-replica': {
        if (decision.keepLease) await this.renew(cycle);
        this.cycleLog.status(decision);
        const source = decision.leader === null ? null : this.source(cycle, decision.leader);
        await startAsReplica(this.actions, source, decision.leader, this.target(cycle, decision.leader), { checkDivergence: decision.checkDivergence, crashed: cycle.input.local.role === 'crashed' });
        return decision;
      }

      case 'rewind': {
        if (decision.keepLease) await this.renew(cycle);
        this.cycleLog.status(decision);
        const source = this.source(cycle, decision.source ?? decision.leader);
        if (!source) return decision;
        this.startLong('rewind', rewindFrom(this.actions, decision.leader, source, this.target(cycle, decision.leader)));
        return decision;
      }

      case 'reinit': {
        this.cycleLog.status(decision);
        const source = this.source(cycle, decision.leader);
        if (!source) return decision;
        this.startLong('reinitialize', reinitFrom(this.actions, decision.leader, source, this.target(cycle, decision.leader)));
        return decision;
      }
    }
  }

  private startPromote(cycle: CycleState): void {
    const me = this.env.local().name;
    this.startLong('promote', promoteSelf(this.actions, cycle.view, cycle.dynamic.ttl * 1000, (pg) => this.sync.prePromote(pg, cycle.view, cycle.dynamic, me)));
  }

  private demotion(cycle: CycleState): DemotionContext {
    const { postgres, logger } = this.env;
    return { postgres, logger, lease: this.lease, runner: this.runner, memory: this.memory, stopBoundMs: cycle.input.config.primaryStopBoundMs ?? null };
  }

  /** A steady replica's slots, after the cycle's action; copying logical slots from the leader is a long action. */
  private async keepReplicaSlots(cycle: CycleState): Promise<void> {
    const copy = await this.slots.keepAsReplica(cycle.input, cycle.view, cycle.dynamic, this.runner.current !== null);
    if (copy) this.startLong('copy logical slots', copy);
  }
}
