/**
 * The long actions' bodies (run in the background by long-action-runner.ts while the loop keeps
 * cycling): bootstrap, clone, promote, rewind, reinitialize, the restart of a crashed primary and
 * the REST restart. Each checks its abort signal before every step that changes something: an
 * aborted action may finish in the background, and must not act after a demotion took over.
 */
import type { HactlConfig } from '../../config/index.js';
import type { ClusterView, Dcs } from '../../dcs/index.js';
import type { BasebackupProgress, BootstrapOptions, CloneSource, CreateReplicaResult, StandbyTarget } from '../../postgres/index.js';
import type { LineLogger } from '../../logger.js';
import { messageOf } from '../error-text.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { LocalPostgres } from './local-postgres.js';
import { PrePromoteFailed } from './postgres-callbacks.js';
import { recordHistory } from './history-after-promote.js';
import type { StandbyCluster } from './standby-cluster.js';
import type { SyncManager } from './sync-executor.js';
import type { HaSelfState } from './types.js';

/** What the executor remembers between cycles besides HaSelfState (decide does not read these). */
export interface ExecutorMemory {
  self: HaSelfState;
  /** The member our primary_conninfo points at, as last written by us (decide's `receivingFrom`). */
  upstream: string | null;
  /** Latest pg_basebackup progress of the running clone/reinitialize (GET /patroni `basebackup`); null otherwise. */
  basebackup: BasebackupProgress | null;
}

/** What a long action may use and change. */
export interface ActionContext {
  pg: LocalPostgres;
  dcs: Dcs;
  logger: LineLogger;
  lease: LeaseKeeper;
  sync: SyncManager;
  memory: ExecutorMemory;
  local(): HactlConfig;
  bootstrapOptions(): BootstrapOptions;
  monoNow(): number;
  /** A fatal outcome: the agent must stop (Patroni exits). */
  onFatal(reason: string): void;
  /** What stops an action from progressing, for GET /patroni `problem` (cleared once the member runs again). */
  reportProblem(action: string, message: string): void;
  /** The leader's slots must be looked at again (after a promotion or a restart): on the next check, or `now`. */
  slotsChanged(view: ClusterView | null, now: boolean): Promise<void>;
}

export type LongActionBody = (signal: AbortSignal) => Promise<void>;

/** The dynamic config a bootstrapping (or adopting) leader writes: `bootstrap.dcs` as given. */
export function configData(local: HactlConfig): Record<string, unknown> {
  return JSON.parse(JSON.stringify(local.bootstrap.dcs)) as Record<string, unknown>;
}

/** The onProgress callback for a copy run under `signal`; once aborted it must not overwrite its successor's progress. */
export function trackBasebackup(memory: ExecutorMemory, signal: AbortSignal): (progress: BasebackupProgress) => void {
  return (progress) => {
    if (!signal.aborted) memory.basebackup = progress;
  };
}

/**
 * initdb, then Patroni's post_bootstrap: watchdog, `initialize` with the system identifier,
 * `config`, and the leader key. A failed initdb gives `initialize` back so another member can try.
 */
export function bootstrapCluster(x: ActionContext, ttlMs: number, paused: boolean): LongActionBody {
  return async (signal) => {
    try {
      await x.pg.bootstrap(x.bootstrapOptions());
    } catch (err) {
      // The bootstrap has stopped the server and emptied the data directory: a restarted agent retries.
      x.logger.error(`bootstrap failed: ${messageOf(err)}`);
      x.reportProblem('bootstrap', messageOf(err));
      x.logger.info('removing initialize key after failed attempt to bootstrap the cluster');
      await x.dcs.cancelInitialization().catch((e: unknown) => x.logger.error(`could not remove the initialize key: ${messageOf(e)}`));
      x.onFatal('Failed to bootstrap cluster');
      return;
    }
    if (signal.aborted) return;
    const control = await x.pg.controlData();
    if (!(await x.lease.armWatchdog())) {
      await x.pg.stop('fast');
      await x.dcs.cancelInitialization();
      x.onFatal('Failed to bootstrap cluster: watchdog could not be activated');
      return;
    }
    await x.dcs.initialize(control.systemIdentifier, { create: false });
    await x.dcs.setConfig(configData(x.local()), 0);
    if (await x.lease.acquire(ttlMs, paused)) {
      x.lease.keepalive();
      x.logger.info('initialized a new cluster');
    } else {
      x.logger.warn('initialized a new cluster, but another member holds the leader key');
    }
  };
}

/**
 * A standby cluster's first member (Patroni's bootstrap_standby_leader): copy the remote (with the
 * standby cluster's replica methods, basebackup by default), start following it, then what
 * bootstrapCluster does after initdb: `initialize` (the remote's system identifier), `config`, the
 * leader key. A failed copy gives `initialize` back and is retried after loop_wait (the remote may
 * not be up yet); it never falls back to initdb.
 */
export function bootstrapStandbyLeader(x: ActionContext, remote: StandbyCluster, follow: StandbyTarget | null, ttlMs: number, paused: boolean): LongActionBody {
  return async (signal) => {
    let result: CreateReplicaResult;
    try {
      result = await x.pg.createReplica({
        source: remote.host === null ? null : { host: remote.host, port: remote.port, name: remote.name },
        follow,
        signal,
        methods: remote.createReplicaMethods,
        onProgress: trackBasebackup(x.memory, signal),
        onMethodFailed: (method, err) => x.logger.error(`replica creation method ${method} failed: ${err.message}`),
      });
    } catch (err) {
      // createReplica left the data directory as it was (empty): another try may start from scratch.
      x.reportProblem('bootstrap', messageOf(err));
      x.logger.error(`failed to bootstrap clone from remote member ${remote.name}: ${messageOf(err)}`);
      x.logger.info('removing initialize key after failed attempt to bootstrap the cluster');
      await x.dcs.cancelInitialization().catch((e: unknown) => x.logger.error(`could not remove the initialize key: ${messageOf(e)}`));
      return;
    }
    if (signal.aborted) return;
    x.memory.upstream = remote.name;
    await x.pg.start();
    x.logger.info(`bootstrapped clone from remote member ${remote.name} with ${result.method} in ${(result.elapsedMs / 1000).toFixed(1)} s`);
    if (signal.aborted) return;
    const control = await x.pg.controlData();
    await x.dcs.initialize(control.systemIdentifier, { create: false });
    await x.dcs.setConfig(configData(x.local()), 0);
    if (await x.lease.acquire(ttlMs, paused, false)) x.logger.info('initialized a new standby cluster: this member is its standby leader');
    else x.logger.warn('initialized a new standby cluster, but another member holds the leader key');
  };
}

/** pg_basebackup (or the configured replica methods) from `from`, then start as a standby of `leaderName`'s target. */
export function cloneReplica(x: ActionContext, from: string, source: CloneSource | null, follow: StandbyTarget | null, leaderName: string | null): LongActionBody {
  return async (signal) => {
    const result = await x.pg.createReplica({
      source,
      follow,
      signal,
      onProgress: trackBasebackup(x.memory, signal),
      onMethodFailed: (method, err) => x.logger.error(`replica creation method ${method} failed: ${err.message}`),
    });
    if (signal.aborted) return;
    x.memory.upstream = follow ? leaderName : null;
    await x.pg.start();
    x.logger.info(`replica created from ${from} with ${result.method} in ${(result.elapsedMs / 1000).toFixed(1)} s`);
  };
}

/**
 * Promote the local standby: in synchronous mode take the `sync` key over first (sync-executor.ts),
 * then pg_ctl promote, the leader's slots, the `history` key and the CHECKPOINT pg_rewind needs.
 */
export function promoteSelf(x: ActionContext, view: ClusterView | null, ttlMs: number, syncCheck: (pg: LocalPostgres) => Promise<boolean>): LongActionBody {
  return async (signal) => {
    if (signal.aborted) return;
    if (!(await syncCheck(x.pg))) {
      x.logger.info('Postponing promotion because synchronous replication state was updated by somebody else');
      return;
    }
    if (signal.aborted) return;
    let result;
    try {
      result = await x.pg.promote();
    } catch (err) {
      if (!(err instanceof PrePromoteFailed)) throw err;
      // Patroni: give the key back and keep out of the leader race for a ttl, so another member may take it.
      x.logger.warn('Releasing the leader key voluntarily because the pre-promote script failed');
      x.memory.self.raceBackoffUntilMonoMs = x.monoNow() + ttlMs;
      // PostgreSQL still runs, as the replica it was: the fence must not wait for it to stop before the key goes.
      if (!(await x.lease.release(null, 'replica'))) x.logger.error('could not give the leader key back after the pre-promote script failed');
      x.logger.info('Promotion cancelled because the pre-promote script failed');
      return;
    }
    x.memory.upstream = null;
    if (signal.aborted) return;
    // Replicas following us need their slots before they can stream; don't wait a cycle for them.
    await x.slotsChanged(view, true);
    if (result.promoted) {
      const me = x.local().name;
      await recordHistory(x.pg, x.dcs, view, result.timeline, me).catch((err) => x.logger.warn(`could not update history: ${messageOf(err)}`));
      await x.pg.checkpointAfterPromote().catch((err) => x.logger.warn(`CHECKPOINT after promote failed: ${messageOf(err)}`));
    }
  };
}

/** pg_rewind from `leader`; a failure is recorded for decide (reinit-needed, or reinit when configured). */
export function rewindFrom(x: ActionContext, leader: string, source: CloneSource, follow: StandbyTarget | null): LongActionBody {
  return async () => {
    const result = await x.pg.rewind(source, follow);
    if (result.status === 'source-unavailable') {
      // Not a failed rewind: the next cycle finds PostgreSQL stopped and diverged, and tries again.
      x.logger.warn(result.reason);
      return;
    }
    if (result.status === 'needs-reinit') {
      x.memory.self.rewindFailed = true;
      x.logger.error(result.rewindError ? `${result.reason}: ${result.rewindError}` : result.reason);
      return;
    }
    x.memory.self.rewindFailed = false;
    x.memory.self.divergence = { leader, diverged: false };
    x.memory.upstream = leader;
    x.logger.info(result.reason);
  };
}

/** Remove the data directory and clone again from `leader` (decide's reinit, or POST /reinitialize). */
export function reinitFrom(x: ActionContext, leader: string, source: CloneSource, follow: StandbyTarget | null): LongActionBody {
  return async (signal) => {
    await x.pg.reinit({ source, follow, onProgress: trackBasebackup(x.memory, signal) });
    x.memory.self.rewindFailed = false;
    x.memory.self.divergence = { leader, diverged: false };
    x.memory.upstream = leader;
  };
}

/** Start a crashed primary in place as primary (we still hold the key; its timeline is unchanged). */
export function restartCrashedPrimary(x: ActionContext, view: ClusterView | null): LongActionBody {
  return async (signal) => {
    await x.pg.configure({ role: 'primary' });
    if (signal.aborted) return;
    x.memory.upstream = null;
    await x.pg.start();
    await x.slotsChanged(view, false);
  };
}
