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
 * Lease belief (lease-loss.ts): counted from when the acquire/renewal was SENT, and only for a
 * confirmed write; a renewal that throws leaves the previous deadline in place.
 */
import type { DynamicConfig, HactlConfig } from '../../config/index.js';
import type { ClusterView, Dcs } from '../../dcs/index.js';
import {
  bootstrap as pgBootstrap,
  checkpointAfterPromote,
  createReplica,
  follow as pgFollow,
  promote as pgPromote,
  readControlData,
  reinit as pgReinit,
  rewind as pgRewind,
  start as pgStart,
  stop as pgStop,
  withConnection,
  writeConfiguration,
  type BasebackupProgress,
  type BootstrapOptions,
  type PgContext,
} from '../../postgres/index.js';
import type { LineLogger } from '../../logger.js';
import type { Watchdog } from '../watchdog/index.js';
import type { FenceHooks } from '../fence/index.js';
import { useSlots } from '../settings.js';
import type { LocalObservation } from './inputs.js';
import { LongActionRunner } from './long-action.js';
import { divergedFrom, memberAddress, recordHistory, SlotKeeper, standbyTarget } from './pg-actions.js';
import { SyncManager } from './sync-executor.js';
import type { DecideInput, Decision, HaSelfState, LongActionName, Note } from './types.js';

/** Lease rule of src/raft/kv/lease.ts: believe a TTL write for ttl·(1 − ρ) from its send time (ρ = 1 %). */
const MAX_DRIFT_RATIO = 0.01;

/** A store that computes the lease belief itself (RaftDcs does, from the same monotonic clock). */
interface LeaseAware {
  readonly leaseDeadlineMonoMs: number | null;
}

function leaseAware(dcs: Dcs): dcs is Dcs & LeaseAware {
  return 'leaseDeadlineMonoMs' in dcs;
}

export interface ExecutorEnv {
  dcs: Dcs;
  /** Current PostgreSQL context (a reload may replace it). */
  pg(): PgContext;
  local(): HactlConfig;
  bootstrapOptions(): BootstrapOptions;
  logger: LineLogger;
  watchdog: Watchdog | null;
  /** The fence process (issue 9): armed after each confirmed leader-key write, released once PostgreSQL is no primary. */
  fence?: FenceHooks | null;
  monoNow(): number;
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
  readonly self: HaSelfState = {
    leaseDeadlineMonoMs: null,
    longAction: null,
    startingSinceMonoMs: null,
    divergence: null,
    rewindFailed: false,
  };
  /** The member our primary_conninfo points at, as last written by us (decide's `receivingFrom`). */
  upstream: string | null = null;
  /** Set while an action makes the member state differ from what PostgreSQL shows (member key `state`). */
  readonly runner: LongActionRunner;
  /** Latest pg_basebackup progress of the running clone/reinitialize (GET /patroni `basebackup`); null otherwise. */
  basebackup: BasebackupProgress | null = null;
  private readonly slots = new SlotKeeper();
  /** Synchronous replication on the leader (sync-executor.ts). */
  readonly sync: SyncManager;
  private lastSlotCheckMonoMs = 0;

  constructor(private readonly env: ExecutorEnv) {
    this.sync = new SyncManager({ dcs: env.dcs, logger: env.logger });
    this.runner = new LongActionRunner(
      env.monoNow,
      (name, err) => env.logger.error(`${name} failed: ${messageOf(err)}`),
      (_name, ok) => {
        this.self.longAction = null;
        this.basebackup = null;
        // After a failure the normal loop_wait passes before a retry (a clone from a leader that is
        // not up yet must not spin).
        if (ok) env.wakeup();
      },
    );
  }

  /** Self state as decide must see it now (the long action may have ended since the last cycle). */
  snapshot(): HaSelfState {
    this.self.longAction = this.runner.current;
    if (leaseAware(this.env.dcs) && this.self.leaseDeadlineMonoMs !== null) {
      // The store knows best whether the last write was confirmed; never extend our own belief with it.
      const theirs = this.env.dcs.leaseDeadlineMonoMs;
      this.self.leaseDeadlineMonoMs = theirs === null ? null : Math.min(theirs, this.self.leaseDeadlineMonoMs);
    }
    return { ...this.self };
  }

  async execute(decision: Decision, cycle: CycleState): Promise<Decision> {
    const { dcs } = this.env;
    if (decision.clearFailover !== undefined) await dcs.deleteFailover(decision.clearFailover);
    if (decision.writeInitialize !== undefined) await dcs.initialize(decision.writeInitialize, { create: true });
    return this.run(decision, cycle);
  }

  private log(decision: Decision): void {
    for (const note of decision.notes) this.note(note);
    this.env.logger.info(decision.reason);
  }

  private note(note: Note): void {
    const { logger } = this.env;
    if (note.level === 'error') logger.error(note.message);
    else if (note.level === 'warning') logger.warn(note.message);
    else logger.info(note.message);
  }

  private ttlMs(cycle: CycleState): number {
    return cycle.dynamic.ttl * 1000;
  }

  /** Renew our key; on success the lease restarts from the send time and the watchdog is fed. */
  private async renew(cycle: CycleState): Promise<boolean> {
    const ttlMs = this.ttlMs(cycle);
    const local = cycle.input.local;
    const lastLsn = local.role === 'primary' ? local.writeLsn : null;
    const sentAt = this.env.monoNow();
    const ok = await this.env.dcs.updateLeader(ttlMs, lastLsn);
    this.self.leaseDeadlineMonoMs = ok ? sentAt + ttlMs * (1 - MAX_DRIFT_RATIO) : null;
    if (ok) this.env.watchdog?.keepalive();
    // The fence counts from the same send time as the lease belief (fence/deadline.ts).
    if (ok) await this.env.fence?.leaseConfirmed({ sentAtMonoMs: sentAt, ttlMs, paused: cycle.input.config.pause });
    // Lost with no primary running: nothing to enforce (a primary is demoted by ifLockLost, which releases the fence after the stop).
    else if (local.role !== 'primary' && local.role !== 'starting') await this.env.fence?.release('leader key lost');
    return ok;
  }

  private async acquire(cycle: CycleState): Promise<boolean> {
    const ttlMs = this.ttlMs(cycle);
    const sentAt = this.env.monoNow();
    const ok = await this.env.dcs.attemptToAcquireLeader(ttlMs);
    if (ok) this.self.leaseDeadlineMonoMs = sentAt + ttlMs * (1 - MAX_DRIFT_RATIO);
    if (ok) await this.env.fence?.leaseConfirmed({ sentAtMonoMs: sentAt, ttlMs, paused: cycle.input.config.pause });
    return ok;
  }

  private async releaseKey(lastLsn: bigint | null = null): Promise<void> {
    this.self.leaseDeadlineMonoMs = null;
    this.env.watchdog?.disable();
    // Every caller has stopped PostgreSQL or runs it as a replica by now.
    await this.env.fence?.release('leader key released');
    await this.env.dcs.deleteLeader(lastLsn);
  }

  /** Arms the watchdog before becoming primary; false (logged) when the config requires one and it failed. */
  private async armWatchdog(): Promise<boolean> {
    const wd = this.env.watchdog;
    if (!wd) return true;
    // The controller has already logged its own warning or refusal reason.
    const activation = await wd.activate();
    if (activation.ok) return true;
    this.env.logger.error('Not promoting self because watchdog could not be activated');
    return false;
  }

  private async run(decision: Decision, cycle: CycleState): Promise<Decision> {
    const { logger } = this.env;
    const me = this.env.local().name;
    const view = cycle.view;
    switch (decision.action) {
      case 'no-action':
      case 'wait-for-initialize':
      case 'reinit-needed':
        this.log(decision);
        if (cycle.input.config.pause) this.env.watchdog?.disable();
        return decision;

      case 'fatal':
        for (const note of decision.notes) this.note(note);
        logger.critical(decision.reason);
        this.env.onFatal(decision.reason);
        return decision;

      case 'renew': {
        if (!(await this.renew(cycle))) return this.run(decision.ifLockLost, cycle);
        this.log(decision);
        if (cycle.input.local.role === 'primary' && view && !cycle.input.config.pause) await this.keepSlots(cycle, view, me);
        // Also in pause: which standbys commits wait for is about durability, not an automatic action.
        if (cycle.input.local.role === 'primary' && view) await this.sync.manage(this.env.pg(), view, cycle.dynamic, me);
        if (view && view.config === null) await this.env.dcs.setConfig(configData(this.env.local()), 0);
        return decision;
      }

      case 'promote': {
        if (!(await this.renew(cycle))) return this.run(decision.ifLockLost, cycle);
        if (!(await this.armWatchdog())) {
          await this.releaseKey();
          logger.info('Not promoting self because watchdog could not be activated');
          return decision;
        }
        this.log(decision);
        this.startPromote(cycle);
        return decision;
      }

      case 'acquire-and-promote': {
        if (!(await this.acquire(cycle))) return this.run(decision.ifLockLost, cycle);
        if (decision.failoverVersion !== null) await this.env.dcs.deleteFailover(decision.failoverVersion);
        if (!(await this.armWatchdog())) {
          await this.releaseKey();
          logger.info(decision.promote ? 'Not promoting self because watchdog could not be activated' : 'Demoting self because watchdog could not be activated');
          return decision;
        }
        this.env.watchdog?.keepalive();
        this.log(decision);
        if (decision.promote) this.startPromote(cycle);
        else if (view) await this.keepSlots(cycle, view, me, true);
        return decision;
      }

      case 'restart-primary': {
        if (!(await this.renew(cycle))) return this.run(decision.ifLockLost, cycle);
        this.log(decision);
        this.self.startingSinceMonoMs = this.env.monoNow();
        this.startLong('starting primary after failure', async (signal) => {
          const ctx = this.env.pg();
          await writeConfiguration(ctx, { role: 'primary' });
          if (signal.aborted) return;
          this.upstream = null;
          await pgStart(ctx);
          this.slots.reset();
        });
        return decision;
      }

      case 'hand-over': {
        if (!(await this.renew(cycle))) return this.run(decision.ifLockLost, cycle);
        this.log(decision);
        await this.handOver(decision.notBeforeMs);
        return decision;
      }

      case 'bootstrap': {
        if (!(await this.env.dcs.initialize('', { create: true }))) return this.run(decision.ifLockLost, cycle);
        this.log(decision);
        this.startLong('bootstrap', (signal) => this.bootstrap(cycle, signal));
        return decision;
      }

      case 'clone': {
        this.log(decision);
        const source = memberAddress(view, decision.from);
        if (!source) {
          logger.warn(`cannot clone from ${decision.from}: its member key has no conn_url`);
          return decision;
        }
        const leaderName = view?.leader?.name ?? null;
        const target = standbyTarget(view, leaderName, me, useSlots(cycle.dynamic));
        this.startLong('clone', async (signal) => {
          const ctx = this.env.pg();
          const result = await createReplica(ctx, {
            source,
            follow: target,
            signal,
            onProgress: this.trackBasebackup(signal),
            onMethodFailed: (method, err) => logger.error(`replica creation method ${method} failed: ${err.message}`),
          });
          if (signal.aborted) return;
          this.upstream = target ? leaderName : null;
          await pgStart(ctx);
          logger.info(`replica created from ${decision.from} with ${result.method} in ${(result.elapsedMs / 1000).toFixed(1)} s`);
        });
        return decision;
      }

      case 'demote': {
        this.log(decision);
        await this.demote(decision.mode, decision.releaseLeader, decision.leader, cycle);
        return decision;
      }

      case 'stop': {
        this.log(decision);
        await this.runner.abort(1000);
        this.env.watchdog?.disable();
        await pgStop(this.env.pg(), { mode: 'immediate' });
        await this.env.fence?.release('PostgreSQL stopped');
        this.self.startingSinceMonoMs = null;
        if (decision.releaseLeader) await this.releaseKey();
        return decision;
      }

      case 'release-leader': {
        this.log(decision);
        await this.releaseKey();
        return decision;
      }

      case 'cancel-long-action': {
        this.log(decision);
        await this.runner.abort(1000);
        return decision;
      }

      case 'follow': {
        this.log(decision);
        if (decision.leader === null) return decision;
        if (decision.checkDivergence && (await this.recordDivergence(view, decision.leader, false))) return decision;
        if (decision.repoint) {
          const target = standbyTarget(view, decision.leader, me, useSlots(cycle.dynamic));
          if (!target) {
            logger.warn(`cannot follow ${decision.leader}: its member key has no conn_url`);
            return decision;
          }
          const result = await pgFollow(this.env.pg(), target);
          this.upstream = decision.leader;
          logger.info(`following ${decision.leader} (${result.how})`);
        }
        return decision;
      }

      case 'start-as-replica': {
        this.log(decision);
        const crashed = cycle.input.local.role === 'crashed';
        if (decision.leader !== null && decision.checkDivergence && (await this.recordDivergence(view, decision.leader, crashed))) return decision;
        const target = standbyTarget(view, decision.leader, me, useSlots(cycle.dynamic));
        const ctx = this.env.pg();
        await writeConfiguration(ctx, { role: 'replica', primary: target });
        this.upstream = target ? decision.leader : null;
        await pgStart(ctx);
        return decision;
      }

      case 'rewind': {
        this.log(decision);
        const source = memberAddress(view, decision.leader);
        if (!source) return decision;
        const target = standbyTarget(view, decision.leader, me, useSlots(cycle.dynamic));
        const leader = decision.leader;
        this.startLong('rewind', async () => {
          const result = await pgRewind(this.env.pg(), source, { follow: target });
          if (result.status === 'needs-reinit') {
            this.self.rewindFailed = true;
            logger.error(result.rewindError ? `${result.reason}: ${result.rewindError}` : result.reason);
            return;
          }
          this.self.rewindFailed = false;
          this.self.divergence = { leader, diverged: false };
          this.upstream = leader;
          logger.info(result.reason);
        });
        return decision;
      }

      case 'reinit': {
        this.log(decision);
        const source = memberAddress(view, decision.leader);
        if (!source) return decision;
        const target = standbyTarget(view, decision.leader, me, useSlots(cycle.dynamic));
        const leader = decision.leader;
        this.startLong('reinitialize', async (signal) => {
          await pgReinit(this.env.pg(), { source, follow: target, onProgress: this.trackBasebackup(signal) });
          this.self.rewindFailed = false;
          this.self.divergence = { leader, diverged: false };
          this.upstream = leader;
        });
        return decision;
      }
    }
  }

  /** The onProgress callback for a copy run under `signal`; once aborted it must not overwrite its successor's progress. */
  trackBasebackup(signal: AbortSignal): (progress: BasebackupProgress) => void {
    return (progress) => {
      if (!signal.aborted) this.basebackup = progress;
    };
  }

  /** Starts a long action; decide saw none running, so a conflict here is a bug worth a loud log. */
  startLong(name: LongActionName, fn: (signal: AbortSignal) => Promise<void>): void {
    try {
      this.runner.start(name, fn);
      this.self.longAction = this.runner.current;
    } catch (err) {
      this.env.logger.error(messageOf(err));
    }
  }

  private startPromote(cycle: CycleState): void {
    const me = this.env.local().name;
    this.startLong('promote', async (signal) => {
      if (signal.aborted) return;
      const ctx = this.env.pg();
      // Synchronous mode: take the `sync` key over before accepting any write (sync-executor.ts).
      if (!(await this.sync.prePromote(ctx, cycle.view, cycle.dynamic, me))) {
        this.env.logger.info('Postponing promotion because synchronous replication state was updated by somebody else');
        return;
      }
      if (signal.aborted) return;
      const result = await pgPromote(ctx);
      this.upstream = null;
      if (signal.aborted) return;
      this.slots.reset();
      // Replicas following us need their slots before they can stream; don't wait a cycle for them.
      const view = cycle.view;
      if (view) await this.keepSlots(cycle, view, me, true).catch((err) => this.env.logger.warn(`could not create replication slots: ${messageOf(err)}`));
      if (result.promoted) {
        await recordHistory(ctx, this.env.dcs, view, result.timeline, me).catch((err) => this.env.logger.warn(`could not update history: ${messageOf(err)}`));
        await checkpointAfterPromote(ctx).catch((err) => this.env.logger.warn(`CHECKPOINT after promote failed: ${messageOf(err)}`));
      }
    });
  }

  private async bootstrap(cycle: CycleState, signal: AbortSignal): Promise<void> {
    const { dcs, logger } = this.env;
    const ctx = this.env.pg();
    try {
      await pgBootstrap(ctx, this.env.bootstrapOptions());
    } catch (err) {
      logger.error(`initdb failed: ${messageOf(err)}`);
      await dcs.cancelInitialization().catch(() => undefined);
      this.env.onFatal('Failed to bootstrap cluster');
      return;
    }
    if (signal.aborted) return;
    const control = await readControlData(ctx);
    // Patroni's post_bootstrap: watchdog, then `initialize`, `config`, and the leader key.
    if (!(await this.armWatchdog())) {
      await pgStop(ctx, { mode: 'fast' });
      await dcs.cancelInitialization();
      this.env.onFatal('Failed to bootstrap cluster: watchdog could not be activated');
      return;
    }
    await dcs.initialize(control.systemIdentifier, { create: false });
    await dcs.setConfig(configData(this.env.local()), 0);
    if (await this.acquire(cycle)) {
      this.env.watchdog?.keepalive();
      logger.info('initialized a new cluster');
    } else {
      logger.warn('initialized a new cluster, but another member holds the leader key');
    }
  }

  /**
   * Stop being a primary: abort whatever runs, disarm the watchdog, stop PostgreSQL (immediately,
   * or with a checkpoint for a graceful handover), release the key if asked, and configure it as a
   * standby of `leader` (the next cycle starts it, checking divergence first).
   */
  private async demote(mode: 'graceful' | 'immediate', releaseLeader: boolean, leader: string | null, cycle: CycleState): Promise<void> {
    const aborted = await this.runner.abort(1000);
    if (aborted) this.env.logger.info(`aborted ${aborted}`);
    this.env.watchdog?.disable();
    const ctx = this.env.pg();
    if (mode === 'graceful') await withConnection(ctx, (c) => c.query('CHECKPOINT'), { connectTimeoutMs: 2000 }).catch(() => undefined);
    await pgStop(ctx, { mode: mode === 'graceful' ? 'fast' : 'immediate' });
    // Only once it is down: a demotion that hangs past the deadline is the fence's to finish.
    await this.env.fence?.release('demoted');
    this.self.startingSinceMonoMs = null;
    if (releaseLeader) await this.releaseKey();
    else this.self.leaseDeadlineMonoMs = null;
    const target = standbyTarget(cycle.view, leader, this.env.local().name, useSlots(cycle.dynamic));
    await writeConfiguration(ctx, { role: 'replica', primary: target });
    this.upstream = target ? leader : null;
    this.self.divergence = null;
  }

  /**
   * Switchover from the leader: checkpoint, clean shutdown (walsenders send everything before they
   * exit, so streaming replicas have the shutdown checkpoint), then delete the key with that
   * checkpoint's LSN as the last known position so the candidate may take it at once.
   */
  private async handOver(notBeforeMs: number | null): Promise<void> {
    if (notBeforeMs !== null) {
      const waitMs = notBeforeMs - Date.now();
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
    }
    await this.runner.abort(1000);
    this.env.watchdog?.disable();
    const ctx = this.env.pg();
    await withConnection(ctx, (c) => c.query('CHECKPOINT'), { connectTimeoutMs: 2000 }).catch(() => undefined);
    await pgStop(ctx, { mode: 'fast' });
    await this.env.fence?.release('switchover: PostgreSQL stopped');
    let checkpoint: bigint | null = null;
    try {
      checkpoint = (await readControlData(ctx)).checkpointLsn;
    } catch {
      // Unknown position: the candidate still takes over; the lag check uses the last status.
    }
    await writeConfiguration(ctx, { role: 'replica', primary: null });
    this.upstream = null;
    this.self.divergence = null;
    await this.releaseKey(checkpoint);
    this.env.logger.info('released the leader key after a clean shutdown for the switchover');
  }

  /** Checks divergence from `leader` and records the verdict; true when diverged (the caller must not stream from it). */
  private async recordDivergence(view: ClusterView | null, leader: string, crashed: boolean): Promise<boolean> {
    const source = memberAddress(view, leader);
    if (!source) return false;
    try {
      const verdict = await divergedFrom(this.env.pg(), source, crashed);
      this.self.divergence = { leader, diverged: verdict.diverged };
      if (verdict.diverged) this.env.logger.info(`timeline diverged from ${leader}: ${verdict.reason}`);
      return verdict.diverged;
    } catch (err) {
      // Leader not reachable yet, or state unknown: check again on a later cycle.
      this.env.logger.debug(`could not check divergence from ${leader}: ${messageOf(err)}`);
      return false;
    }
  }

  private async keepSlots(cycle: CycleState, view: ClusterView, me: string, force = false): Promise<void> {
    const now = this.env.monoNow();
    // Re-read the slots now and then even when the member set is unchanged (a slot dropped by hand).
    if (now - this.lastSlotCheckMonoMs > 30_000) force = true;
    this.lastSlotCheckMonoMs = force ? now : this.lastSlotCheckMonoMs;
    const permanent = (cycle.dynamic.slots ?? {}) as Record<string, { type?: 'physical' | 'logical'; database?: string; plugin?: string }>;
    try {
      const messages = await this.slots.ensure(this.env.pg(), view, me, { useSlots: useSlots(cycle.dynamic), permanent }, force);
      for (const m of messages) this.env.logger.info(m);
    } catch (err) {
      this.env.logger.warn(`could not check replication slots: ${messageOf(err)}`);
    }
  }
}

/** The dynamic config a bootstrapping (or adopting) leader writes: `bootstrap.dcs` as given. */
export function configData(local: HactlConfig): Record<string, unknown> {
  return JSON.parse(JSON.stringify(local.bootstrap.dcs)) as Record<string, unknown>;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
