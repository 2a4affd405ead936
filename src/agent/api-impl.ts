/**
 * The agent's side of the REST API (AgentApi in src/agent/api/types.ts): status from the state the
 * HA loop cached this cycle (health checks never touch PostgreSQL or the store), actions through
 * the cluster keys (`failover`, `config`) or the executor's long actions, with Patroni's texts.
 */
import { dynamicConfigSchema, type HactlConfig } from '../config/index.js';
import { DcsError, type ClusterView, type Dcs } from '../dcs/index.js';
import { restart as pgRestart, reinit as pgReinit, type PgContext } from '../postgres/index.js';
import type { LineLogger } from '../logger.js';
import {
  applyMergePatch,
  type ActionResult,
  type AgentApi,
  type HaSnapshot,
  type MemberStatus,
  type ReinitializeRequest,
  type RestartRequest,
  type SwitchoverRequest,
} from './api/index.js';
import { failoverLimitation } from './ha/health.js';
import type { HaLoop } from './ha/loop.js';
import { collectMemberHealth } from './ha/inputs.js';
import { memberRole, postgresStateName } from './ha/member.js';
import { memberAddress, standbyTarget } from './ha/pg-actions.js';
import { useSlots } from './settings.js';
import type { Watchdog } from './watchdog/index.js';
import type { FenceController } from './fence/index.js';

export interface AgentApiDeps {
  loop: HaLoop;
  dcs: Dcs;
  local(): HactlConfig;
  pg(): PgContext;
  watchdog: Watchdog | null;
  /** The fence process (issue 9), shown as `fence` in GET /patroni. */
  fence?: FenceController | null;
  version: string;
  logger: LineLogger;
  /** SIGHUP's work: re-read the config file and apply it. */
  reload(): Promise<void>;
  /** How long POST /switchover waits for the outcome (default: max(2·loop_wait, 30 s), as Patroni polls). */
  switchoverWaitMs?: number;
}

const toNum = (v: bigint | null | undefined): number | null => (v === null || v === undefined ? null : Number(v));

export class AgentApiImpl implements AgentApi {
  private scheduledRestart: { request: RestartRequest; timer: NodeJS.Timeout } | null = null;

  constructor(private readonly deps: AgentApiDeps) {}

  memberStatus(): MemberStatus {
    const { loop, version } = this.deps;
    const local = this.deps.local();
    const last = loop.last;
    const patroni = { version, scope: local.scope, name: local.name };
    const wd = this.deps.watchdog;
    if (!last) return { state: 'starting', role: 'uninitialized', patroni };
    const obs = last.observation;
    const action = loop.executor.runner.current?.name ?? null;
    const status: MemberStatus = {
      state: postgresStateName(obs, action),
      role: memberRole(obs),
      tags: local.tags,
      patroni,
    };
    if (obs.state.systemIdentifier) status.database_system_identifier = obs.state.systemIdentifier;
    if (last.dynamic.pause) status.pause = true;
    if (!last.dcsOk || !last.view?.leader) status.cluster_unlocked = true;
    if (loop.dcsLastSeenMs !== null) status.dcs_last_seen = Math.floor(loop.dcsLastSeenMs / 1000);
    if (obs.state.pendingRestart) status.pending_restart = true;
    const copy = action ? loop.executor.basebackup : null;
    if (copy) status.basebackup = { phase: copy.phase, done_bytes: copy.doneBytes, total_bytes: copy.totalBytes };
    if (wd && !wd.isHealthy) status.watchdog_failed = true;
    if (wd) {
      const w = wd.status();
      const lastPingAgo = w.lastKeepaliveAgeSeconds;
      status.watchdog = {
        mode: w.mode,
        active: w.active,
        device: w.active ? w.device : null,
        timeout_seconds: w.timeoutSeconds,
        last_ping: lastPingAgo === null ? null : Math.floor(Date.now() / 1000 - lastPingAgo),
      };
    }
    if (this.deps.fence) status.fence = this.deps.fence.status();
    const server = obs.server;
    if (server) {
      status.postmaster_start_time = server.postmasterStartedAt.toISOString();
      status.server_version = server.serverVersionNum;
      status.timeline = server.timeline;
      if (server.inRecovery) {
        status.xlog = {
          received_location: toNum(server.receivedLsn),
          replayed_location: toNum(server.replayedLsn),
          replayed_timestamp: server.lastReplayAt ? server.lastReplayAt.toISOString() : null,
          paused: false,
        };
        status.replication_state = server.walReceiver?.status === 'streaming' ? 'streaming' : 'in archive recovery';
      } else {
        status.xlog = { location: toNum(server.currentLsn) ?? 0 };
        status.replication = server.replication.map((r) => ({
          usename: r.username,
          application_name: r.applicationName,
          client_addr: r.clientAddr,
          state: r.state,
          sync_state: r.syncState,
          sync_priority: 0,
        }));
      }
    } else if (obs.state.timeline !== null) {
      status.timeline = obs.state.timeline;
    }
    if (this.scheduledRestart) {
      status.scheduled_restart = { schedule: this.scheduledRestart.request.schedule!.text };
    }
    return status;
  }

  async clusterView(options: { fresh?: boolean } = {}): Promise<ClusterView | null> {
    if (options.fresh) {
      try {
        return await this.deps.dcs.getCluster();
      } catch (err) {
        if (err instanceof DcsError) return null;
        throw err;
      }
    }
    const last = this.deps.loop.last;
    return last?.dcsOk ? last.view : null;
  }

  haSnapshot(): HaSnapshot {
    const { loop } = this.deps;
    const local = this.deps.local();
    const dynamic = loop.last?.dynamic ?? local.bootstrap.dcs;
    const lease = loop.executor.self.leaseDeadlineMonoMs;
    return {
      isLeader: lease !== null && lease > performance.now(),
      paused: dynamic.pause,
      nextRunAtMs: loop.lastCycleStartMs === null ? null : loop.lastCycleStartMs + dynamic.loop_wait * 1000,
      ttlSeconds: dynamic.ttl,
      maximumLagOnFailoverBytes: dynamic.maximum_lag_on_failover,
      latestEndLsn: toNum(loop.last?.observation.server?.walReceiver?.flushedLsn ?? null),
    };
  }

  requestSwitchover(req: SwitchoverRequest): Promise<ActionResult> {
    return this.requestHandover(req);
  }

  requestFailover(req: SwitchoverRequest): Promise<ActionResult> {
    return this.requestHandover(req);
  }

  /**
   * Patroni's switchover/failover endpoint: check that a candidate can take over (asking their
   * `/patroni`), write the `failover` key, wake the loop and poll the leader key for the outcome.
   */
  private async requestHandover(req: SwitchoverRequest): Promise<ActionResult> {
    const { dcs, loop } = this.deps;
    const Action = req.action === 'switchover' ? 'Switchover' : 'Failover';
    if (req.scheduledAt) {
      if (!(await dcs.setFailover({ leader: req.leader, candidate: req.candidate, scheduledAt: req.scheduledAt.text }))) {
        return { status: 503, text: 'failed to write failover key into DCS' };
      }
      loop.wakeup();
      return { status: 202, text: `${Action} scheduled` };
    }
    const before = await dcs.getCluster();
    const candidates = before.members.filter((m) => req.membersToCheck.includes(m.name));
    const health = await collectMemberHealth(candidates, this.deps.local().name, { timeoutMs: 2000 });
    // Our own status is not fetched over HTTP; a candidate that is us counts as reachable.
    const good = health.filter((h) => failoverLimitation(h) === null);
    if (good.length === 0 && !req.membersToCheck.includes(this.deps.local().name)) {
      return { status: 412, text: `${req.action} is not possible: no good candidates have been found` };
    }
    const lagging = req.candidate ? this.candidateLag(before, good.find((h) => h.name === req.candidate)?.walLsn ?? null) : null;
    if (lagging) {
      // hactl deviation: Patroni accepts the request and the leader refuses it a cycle later
      // ("Member X exceeds maximum replication lag", then 503 "Switchover failed"); the leader would
      // refuse here too, so say why at once instead.
      return { status: 412, text: `${req.action} is not possible: member ${req.candidate} exceeds maximum replication lag (${lagging})` };
    }
    if (!(await dcs.setFailover({ leader: req.leader, candidate: req.candidate }))) {
      return { status: 503, text: 'failed to write failover key into DCS' };
    }
    loop.wakeup();
    const oldLeader = req.leader ?? before.leader?.name ?? null;
    const waitMs = this.deps.switchoverWaitMs ?? Math.max(2 * (loop.last?.dynamic.loop_wait ?? 10) * 1000, 30_000);
    const deadline = Date.now() + waitMs;
    const past = req.action === 'switchover' ? 'switched over' : 'failed over';
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      let view: ClusterView;
      try {
        view = await dcs.getCluster();
      } catch {
        continue;
      }
      const leader = view.leader?.name ?? null;
      if (leader !== null && leader !== oldLeader) {
        if (req.candidate && leader !== req.candidate) return { status: 200, text: `${Action === 'Switchover' ? 'Switched over' : 'Failed over'} to "${leader}" instead of "${req.candidate}"` };
        return { status: 200, text: `Successfully ${past} to "${leader}"` };
      }
      if (view.failover === null && leader === oldLeader) return { status: 503, text: `${Action} failed` };
    }
    return { status: 503, text: `${Action} status unknown after ${Math.round(waitMs / 1000)} seconds; operation may still be in progress` };
  }

  /**
   * How far a candidate at `walLsn` is behind the last known primary position (the `status` key,
   * or our own position when we are the primary), as text when beyond maximum_lag_on_failover.
   */
  private candidateLag(view: ClusterView, walLsn: bigint | null): string | null {
    const last = this.deps.loop.last;
    if (!last || walLsn === null) return null;
    const own = last.observation.state.role === 'primary' ? (last.observation.state.writeLsn ?? 0n) : 0n;
    const published = view.status.lastLsn ?? 0n;
    const reference = own > published ? own : published;
    const maxLag = BigInt(last.dynamic.maximum_lag_on_failover);
    const lagBytes = reference - walLsn;
    return lagBytes > maxLag ? `${lagBytes} bytes behind the primary, maximum_lag_on_failover is ${maxLag}` : null;
  }

  async cancelSwitchover(): Promise<ActionResult> {
    const view = await this.deps.dcs.getCluster();
    if (!view.failover?.scheduledAt) return { status: 404, text: 'no switchover is scheduled' };
    if (!(await this.deps.dcs.deleteFailover(view.failover.keyVersion))) return { status: 409, text: 'Failed to delete scheduled switchover' };
    return { status: 200, text: 'scheduled switchover deleted' };
  }

  async restart(req: RestartRequest): Promise<ActionResult> {
    if (req.schedule) {
      if (this.scheduledRestart) return { status: 409, text: 'Another restart is already scheduled' };
      const delay = Math.max(0, req.schedule.ms - Date.now());
      const timer = setTimeout(() => {
        this.scheduledRestart = null;
        void this.restartNow({ ...req, schedule: null }).then((r) => this.deps.logger.info(`scheduled restart: ${'text' in r ? r.text : r.status}`));
      }, delay);
      timer.unref();
      this.scheduledRestart = { request: req, timer };
      return { status: 202, text: 'Restart scheduled' };
    }
    return this.restartNow(req);
  }

  private async restartNow(req: RestartRequest): Promise<ActionResult> {
    const { loop } = this.deps;
    const obs = loop.last?.observation;
    const running = loop.executor.runner.current;
    if (running) return { status: 503, text: `${running.name} already in progress` };
    if (!obs || (obs.state.role !== 'primary' && obs.state.role !== 'replica')) {
      return { status: 503, text: obs?.state.role === 'starting' ? 'postgres is still starting' : 'restart conditions are not satisfied' };
    }
    const role = obs.state.role;
    if (req.role && req.role !== role) return { status: 503, text: 'restart conditions are not satisfied' };
    if (req.restartPending && !obs.state.pendingRestart) return { status: 503, text: 'restart conditions are not satisfied' };
    if (req.postgresVersionNum !== null && obs.server && obs.server.serverVersionNum >= req.postgresVersionNum) {
      return { status: 503, text: 'restart conditions are not satisfied' };
    }
    const done = new Promise<boolean>((resolve) => {
      loop.executor.startLong('restart', async () => {
        try {
          await pgRestart(this.deps.pg(), { stop: { mode: 'fast' } });
          resolve(true);
        } catch (err) {
          this.deps.logger.error(`restart failed: ${(err as Error).message}`);
          resolve(false);
        }
      });
    });
    const started = (loop.executor.runner as { current: { name: string } | null }).current;
    if (started?.name !== 'restart') return { status: 503, text: 'restart failed' };
    return (await done) ? { status: 200, text: 'restarted successfully' } : { status: 503, text: 'restart failed' };
  }

  async cancelRestart(): Promise<ActionResult> {
    if (!this.scheduledRestart) return { status: 404, text: 'no restarts are scheduled' };
    clearTimeout(this.scheduledRestart.timer);
    this.scheduledRestart = null;
    return { status: 200, text: 'scheduled restart deleted' };
  }

  async reinitialize(req: ReinitializeRequest): Promise<ActionResult> {
    const { loop, dcs } = this.deps;
    const me = this.deps.local().name;
    const view = await dcs.getCluster();
    const leader = view.leader?.name ?? null;
    if (leader === null) return { status: 503, text: 'Cluster has no leader, can not reinitialize' };
    if (leader === me) return { status: 503, text: 'I am the leader, can not reinitialize' };
    const running = loop.executor.runner.current;
    if (running) {
      if (!req.force) return { status: 503, text: `${running.name} already in progress` };
      await loop.executor.runner.abort(2000);
    }
    const source = memberAddress(view, leader);
    if (!source) return { status: 503, text: `Cluster has no leader, can not reinitialize` };
    const dynamic = loop.last?.dynamic ?? this.deps.local().bootstrap.dcs;
    const target = standbyTarget(view, leader, me, useSlots(dynamic));
    loop.executor.startLong('reinitialize', async (signal) => {
      await pgReinit(this.deps.pg(), { source, follow: target, onProgress: loop.executor.trackBasebackup(signal) });
      loop.executor.upstream = leader;
      loop.executor.self.divergence = { leader, diverged: false };
      loop.executor.self.rewindFailed = false;
    });
    loop.wakeup();
    return { status: 200, text: 'reinitialize started' };
  }

  async reload(): Promise<ActionResult> {
    void this.deps.reload().catch((err: unknown) => this.deps.logger.error(`reload failed: ${(err as Error).message}`));
    return { status: 202, text: 'reload scheduled' };
  }

  async patchConfig(patch: Record<string, unknown>): Promise<ActionResult> {
    const { dcs, loop } = this.deps;
    const view = await dcs.getCluster();
    if (!view.config) return { status: 503, text: 'config is not set' };
    const { result } = applyMergePatch(view.config.data, patch);
    const invalid = validateDynamic(result);
    if (invalid) return { status: 400, text: invalid };
    if (!(await dcs.setConfig(result, view.config.keyVersion))) return { status: 409, text: 'Conflict' };
    loop.wakeup();
    return { status: 200, body: result };
  }

  async putConfig(config: Record<string, unknown>): Promise<ActionResult> {
    const invalid = validateDynamic(config);
    if (invalid) return { status: 400, text: invalid };
    if (!(await this.deps.dcs.setConfig(config))) return { status: 502, text: 'failed to write config into DCS' };
    this.deps.loop.wakeup();
    return { status: 200, body: config };
  }

  dispose(): void {
    if (this.scheduledRestart) clearTimeout(this.scheduledRestart.timer);
    this.scheduledRestart = null;
  }
}

function validateDynamic(data: Record<string, unknown>): string | null {
  const parsed = dynamicConfigSchema.safeParse(data);
  if (parsed.success) return null;
  return parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
}
