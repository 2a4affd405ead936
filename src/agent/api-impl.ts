/**
 * The agent's side of the REST API (AgentApi in src/agent/api/types.ts): status from the state the
 * HA loop cached this cycle (health checks never touch PostgreSQL or the store), actions through
 * the cluster keys (`failover`, `config`) or the executor's long actions, with Patroni's texts.
 */
import { dynamicConfigSchema, reportDynamicKeys, type HactlConfig } from '../config/index.js';
import { DcsError, type ClusterView, type Dcs, type Member } from '../dcs/index.js';
import type { MemberHealth } from './ha/types.js';
import type { LineLogger } from '../logger.js';
import {
  ApiError,
  applyMergePatch,
  type ActionResult,
  type AgentApi,
  type HaSnapshot,
  type ReinitializeRequest,
  type RestartRequest,
  type SwitchoverRequest,
} from './api/index.js';
import type { FailoverCandidatesJson, FailsafeTopologyBody, MemberStatus } from '../protocol/index.js';
import { haConfigFrom } from './ha/config.js';
import type { FailsafeReply } from './ha/failsafe-state.js';
import { failoverLimitation } from './ha/failover-eligibility.js';
import type { HaLoop } from './ha/loop.js';
import { fenceVetoOf } from './ha/inputs.js';
import { explainFailover, type FailoverExplanation } from './ha/race-explanation.js';
import { failoverCandidatesJson, refusalDetail } from './failover-candidates.js';
import { isStandbyLeader, memberRole, postgresStateName } from './ha/member.js';
import { standbyClusterOf } from './ha/standby-cluster.js';
import { memberAddress, standbyTarget } from './ha/member-addresses.js';
import { useSlots } from './settings.js';
import type { Watchdog } from './watchdog/index.js';
import { holderNowMs, type FenceController } from './fence/index.js';
import { ScheduledRestartSlot } from './scheduled-restart.js';
import { LivePositions } from './api/live-positions.js';
import type { ServerState } from '../postgres/index.js';

export interface AgentApiDeps {
  loop: HaLoop;
  dcs: Dcs;
  local(): HactlConfig;
  watchdog: Watchdog | null;
  /** The fence process (issue 9), shown as `fence` in GET /patroni. */
  fence?: FenceController | null;
  version: string;
  logger: LineLogger;
  /** SIGHUP's work: re-read the config file and apply it. */
  reload(): Promise<void>;
  /** How long POST /switchover waits for the outcome (default: max(2·loop_wait, 30 s), as Patroni polls). */
  switchoverWaitMs?: number;
  /** The running server read now (GET /patroni's replica positions, api/live-positions.ts). */
  readServer?: (timeoutMs: number) => Promise<ServerState>;
}

const toNum = (v: bigint | null | undefined): number | null => (v === null || v === undefined ? null : Number(v));

export class AgentApiImpl implements AgentApi {
  /** Kept in the member key (the loop publishes `scheduledRestart.record`), read back at start. */
  readonly scheduledRestart: ScheduledRestartSlot;
  private readonly live: LivePositions | null;

  constructor(private readonly deps: AgentApiDeps) {
    this.live = deps.readServer ? new LivePositions(deps.readServer) : null;
    this.scheduledRestart = new ScheduledRestartSlot({
      logger: deps.logger,
      postmasterStartTime: () => deps.loop.last?.observation.server?.postmasterStartedAt.toISOString() ?? null,
      restartNow: async (req) => {
        const r = await this.restartNow(req);
        return 'text' in r ? r.text : String(r.status);
      },
      changed: () => deps.loop.wakeup(),
    });
  }

  memberStatus(): MemberStatus {
    const { loop, version } = this.deps;
    const local = this.deps.local();
    const last = loop.last;
    const patroni = { version, scope: local.scope, name: local.name };
    const wd = this.deps.watchdog;
    if (!last) return { state: 'starting', role: 'uninitialized', patroni };
    const obs = last.observation;
    const action = loop.executor.runner.current?.name ?? null;
    // A standby cluster's key holder is its standby leader from the moment it holds the key: the cycle's view,
    // read before it took the key, still names the old holder, and /standby_leader already answers 200.
    const standbyCluster = standbyClusterOf(last.dynamic);
    const standbyLeader = isStandbyLeader(local.name, last.view, standbyCluster) || (standbyCluster !== null && this.haSnapshot().isLeader);
    const status: MemberStatus = {
      state: postgresStateName(obs, action, last.dynamic.pause === true),
      role: memberRole(obs, standbyLeader),
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
    const problem = loop.executor.problem;
    if (problem) status.problem = { action: problem.action, message: problem.message, since: new Date(problem.atMs).toISOString() };
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
    const scheduled = this.scheduledRestart.record;
    if (scheduled) {
      // As Patroni's GET /patroni: the member key carries postmaster_start_time, the answer does not.
      delete scheduled.postmaster_start_time;
      status.scheduled_restart = scheduled;
    }
    return status;
  }

  liveMemberStatus(): Promise<MemberStatus> {
    const status = this.memberStatus();
    return this.live ? this.live.refresh(status) : Promise.resolve(status);
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
    const failsafeUntil = loop.failsafe.activeUntilMonoMs;
    return {
      // The lease belief is on the holder clock (fence/holder-clock.ts), as the HA loop reads it; a
      // primary kept by failsafe mode is the leader too (Patroni sets is_leader then).
      isLeader: (lease !== null && lease > holderNowMs()) || (failsafeUntil !== null && failsafeUntil > holderNowMs()),
      failsafeActive: loop.failsafe.isActive(dynamic.ttl * 1000),
      failsafeMode: dynamic.failsafe_mode === true,
      paused: dynamic.pause,
      nextRunAtMs: loop.lastCycleStartMs === null ? null : loop.lastCycleStartMs + dynamic.loop_wait * 1000,
      ttlSeconds: dynamic.ttl,
      maximumLagOnFailoverBytes: dynamic.maximum_lag_on_failover,
      latestEndLsn: toNum(loop.last?.observation.server?.walReceiver?.flushedLsn ?? null),
    };
  }

  failsafeTopology(): FailsafeTopologyBody | null {
    return this.deps.loop.failsafe.topology;
  }

  acceptFailsafe(body: unknown): FailsafeReply {
    const { loop } = this.deps;
    const last = loop.last;
    const server = last?.observation.server ?? null;
    const received = server?.receivedLsn ?? null;
    const replayed = server?.replayedLsn ?? null;
    const walLsn = received === null ? replayed : replayed === null || received > replayed ? received : replayed;
    const reply = loop.failsafe.accept(body, {
      name: this.deps.local().name,
      failsafeMode: last?.dynamic.failsafe_mode === true,
      runsAsPrimary: last?.observation.state.role === 'primary',
      leaderOrPromoting: loop.executor.self.leaseDeadlineMonoMs !== null || loop.executor.runner.current?.name === 'promote',
      walLsn: server?.inRecovery ? walLsn : null,
    });
    if (reply.status === 500) this.deps.logger.warn(`refused POST /failsafe: ${reply.text}`);
    return reply;
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
    const health = await loop.askMembers(before);
    const candidates = health.filter((h) => req.membersToCheck.includes(h.name));
    // Our own status is not fetched over HTTP; a candidate that is us counts as reachable.
    const good = candidates.filter((h) => failoverLimitation(h) === null);
    // Why each member would not take over, from the same checks the leader and the race make (issue 17).
    const why = (view: ClusterView, members: typeof health): string => {
      const explanation = this.explanation(view, members, req.candidate, req.action);
      return explanation ? refusalDetail(explanation) : '';
    };
    if (good.length === 0 && !req.membersToCheck.includes(this.deps.local().name)) {
      return { status: 412, text: `${req.action} is not possible: no good candidates have been found${why(before, health)}` };
    }
    const lagging = req.candidate ? this.candidateLag(before, good.find((h) => h.name === req.candidate)?.walLsn ?? null) : null;
    if (lagging) {
      // hactl deviation: Patroni accepts the request and the leader refuses it a cycle later
      // ("Member X exceeds maximum replication lag", then 503 "Switchover failed"); the leader would
      // refuse here too, so say why at once instead.
      return { status: 412, text: `${req.action} is not possible: member ${req.candidate} exceeds maximum replication lag (${lagging})${why(before, health)}` };
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
        // The store did not answer this time: poll again until the wait's deadline.
        continue;
      }
      const leader = view.leader?.name ?? null;
      if (leader !== null && leader !== oldLeader) {
        if (req.candidate && leader !== req.candidate) return { status: 200, text: `${Action === 'Switchover' ? 'Switched over' : 'Failed over'} to "${leader}" instead of "${req.candidate}"` };
        return { status: 200, text: `Successfully ${past} to "${leader}"` };
      }
      if (view.failover === null && leader === oldLeader) {
        // The leader deleted the request without handing over: ask the members again and say why.
        const detail = await loop.askMembers(view).then(
          (members) => why(view, members),
          () => '',
        );
        return { status: 503, text: `${Action} failed${detail}` };
      }
    }
    return { status: 503, text: `${Action} status unknown after ${Math.round(waitMs / 1000)} seconds; operation may still be in progress` };
  }

  /**
   * GET /failover/candidates: the failover explanation for the view given (read fresh by the
   * handler), asking every other member's `/patroni` now. 503 before the first HA cycle.
   */
  async failoverCandidates(query: { view: ClusterView; candidate: string | null; kind: 'failover' | 'switchover' }): Promise<FailoverCandidatesJson> {
    const members = await this.deps.loop.askMembers(query.view);
    const explanation = this.explanation(query.view, members, query.candidate, query.kind);
    if (!explanation) throw new ApiError(503, 'the HA loop has not observed PostgreSQL yet');
    return failoverCandidatesJson(explanation, this.deps.local().scope);
  }

  /** decide()'s input as this cycle would build it, explained (ha/race-explanation.ts); null before the first cycle. */
  private explanation(view: ClusterView, memberHealth: MemberHealth[], candidate: string | null, kind: 'failover' | 'switchover'): FailoverExplanation | null {
    const { loop, watchdog, fence } = this.deps;
    const last = loop.last;
    if (!last) return null;
    const local = this.deps.local();
    return explainFailover({
      input: {
        view,
        dcsOk: true,
        local: last.observation.state,
        config: haConfigFrom(local, last.dynamic),
        memberHealth,
        nowMs: Date.now(),
        monoNowMs: loop.monoNow(),
        self: loop.executor.snapshot(),
      },
      selfWatchdogFailed: watchdog !== null && !watchdog.isHealthy,
      selfFenceVeto: fence ? fenceVetoOf(fence.status()) : null,
      candidate,
      kind,
    });
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
      if (!this.scheduledRestart.schedule(req)) return { status: 409, text: 'Another restart is already scheduled' };
      return { status: 202, text: 'Restart scheduled' };
    }
    return this.restartNow(req);
  }

  private async restartNow(req: RestartRequest): Promise<ActionResult> {
    const { loop } = this.deps;
    const obs = loop.last?.observation;
    const running = loop.executor.runner.current;
    if (running) return { status: 503, text: `${running.name} already in progress` };
    // Patroni's restart starts a server that is not running (restart_matches looks at role, version and
    // pending restart only), in the role it stopped in; one that would come up writable only while we hold the key.
    const down = (obs?.state.role === 'stopped' || obs?.state.role === 'crashed') && obs.state.dataDir === 'valid';
    if (!obs || (obs.state.role !== 'primary' && obs.state.role !== 'replica' && !down)) {
      return { status: 503, text: obs?.state.role === 'starting' ? 'postgres is still starting' : 'restart conditions are not satisfied' };
    }
    const role = down ? (obs.state.wasPrimary ? 'primary' : 'replica') : obs.state.role;
    if (down && role === 'primary' && !this.haSnapshot().isLeader) {
      return { status: 503, text: 'restart conditions are not satisfied: PostgreSQL would start as a primary without the leader key' };
    }
    if (req.role && req.role !== role) return { status: 503, text: 'restart conditions are not satisfied' };
    if (req.restartPending && !obs.state.pendingRestart) return { status: 503, text: 'restart conditions are not satisfied' };
    if (req.postgresVersionNum !== null && obs.server && obs.server.serverVersionNum >= req.postgresVersionNum) {
      return { status: 503, text: 'restart conditions are not satisfied' };
    }
    // Patroni's restart `timeout`: how long the start may take (default pg_ctl_timeout).
    const done = loop.executor.startRestart(req.timeoutSeconds !== null ? req.timeoutSeconds * 1000 : null);
    if (done === null) return { status: 503, text: 'restart failed' };
    return (await done) ? { status: 200, text: 'restarted successfully' } : { status: 503, text: 'restart failed' };
  }

  async cancelRestart(): Promise<ActionResult> {
    if (!this.scheduledRestart.cancel()) return { status: 404, text: 'no restarts are scheduled' };
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
    // As Patroni: without from_leader a running replica tagged clonefrom (the furthest ahead) serves the copy.
    const from = req.fromLeader ? leader : (cloneFromReplica(view, me) ?? leader);
    const source = memberAddress(view, from);
    if (!source) return { status: 503, text: `Cluster has no leader, can not reinitialize` };
    const dynamic = loop.last?.dynamic ?? this.deps.local().bootstrap.dcs;
    const target = standbyTarget(view, leader, me, useSlots(dynamic));
    loop.executor.startReinitialize(leader, source, target);
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
    this.warnKeys('PATCH', patch);
    loop.wakeup();
    return { status: 200, body: result };
  }

  async putConfig(config: Record<string, unknown>): Promise<ActionResult> {
    const invalid = validateDynamic(config);
    if (invalid) return { status: 400, text: invalid };
    if (!(await this.deps.dcs.setConfig(config))) return { status: 502, text: 'failed to write config into DCS' };
    this.warnKeys('PUT', config);
    this.deps.loop.wakeup();
    return { status: 200, body: config };
  }

  /** No key is silently ignored over REST either: what was just written that hactl does not act on (key-report.ts). */
  private warnKeys(method: string, written: Record<string, unknown>): void {
    for (const line of reportDynamicKeys(written)) this.deps.logger.warn(`${method} /config: ${line}`);
  }

  dispose(): void {
    this.scheduledRestart.dispose();
  }
}

function validateDynamic(data: Record<string, unknown>): string | null {
  const parsed = dynamicConfigSchema.safeParse(data);
  if (parsed.success) return null;
  return parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
}

/** A running replica other than `me` tagged clonefrom, the furthest ahead first; null when none. */
export function cloneFromReplica(view: ClusterView, me: string): string | null {
  const position = (m: Member): bigint => m.replayedLsn ?? m.xlogLocation ?? 0n;
  const candidates = view.members
    .filter((m) => m.name !== me && m.name !== view.leader?.name && m.tags.clonefrom === true && m.state === 'running' && m.connUrl !== null)
    .sort((a, b) => (position(b) > position(a) ? 1 : position(b) < position(a) ? -1 : a.name.localeCompare(b.name)));
  return candidates[0]?.name ?? null;
}
