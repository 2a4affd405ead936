/**
 * The HA loop: the thin imperative shell around decide() (DESIGN.md "Functional core, imperative
 * shell"). Each cycle, every loop_wait and earlier when the store's watch says the leader key,
 * `failover`, `config` or `initialize` changed:
 *   1. read the cluster (bounded by retry_timeout) and the local PostgreSQL;
 *   2. ask the other members' REST APIs when a race or a handover is possible;
 *   3. decide, log ONE status line (plus decide's notes), execute (executor.ts);
 *   4. touch our member key.
 * Long actions run in the background while the cycles go on (Patroni's AsyncExecutor).
 */
import type { HactlConfig } from '../../config/index.js';
import { DcsError, type ClusterView, type Dcs } from '../../dcs/index.js';
import { lsnToJson } from '../../dcs/codec.js';
import type { BootstrapOptions } from '../../postgres/index.js';
import type { LineLogger } from '../../logger.js';
import { watchdogSettings, type Watchdog } from '../watchdog/index.js';
import { applyFencePolicy, type FenceController, type FenceInput } from '../fence/index.js';
import { apiUrl, connUrl, effectiveDynamic } from '../settings.js';
import { haConfigFrom } from './config.js';
import { decide, needsMemberHealth } from './decide.js';
import { failsafeTopologyToWrite, needsFailsafeRound, raceMembers } from './failsafe.js';
import { askFailsafeMembers, postFailsafeJson, type PostFailsafe } from './failsafe-round.js';
import { FailsafeState } from './failsafe-state.js';
import { messageOf } from '../error-text.js';
import { HaExecutor, type CycleState } from './executor.js';
import { walPosition } from './candidate-facts.js';
import { raceBackoffLeftMs } from './primary-race-backoff.js';
import { collectMemberHealth, observeLocal, type ControlDataCache, type FetchStatus, type LocalObservation } from './inputs.js';
import type { LocalPostgres } from './local-postgres.js';
import { isStandbyLeader, memberData } from './member.js';
import type { DecideInput, Decision, MemberHealth } from './types.js';
import type { DynamicConfig } from '../../config/index.js';
import type { FailsafePing, ScheduledRestart } from '../../protocol/index.js';

/** Decisions after which a primary seen at the cycle's start may be stopped or no longer a primary. */
const STOPS_PRIMARY: ReadonlySet<Decision['action']> = new Set(['demote', 'hand-over', 'stop', 'release-leader']);

export interface HaLoopOptions {
  dcs: Dcs;
  /** The local PostgreSQL (postgres-control.ts in the agent, a scripted fake in tests). */
  postgres: LocalPostgres;
  /** The local config (SIGHUP may replace it). */
  local(): HactlConfig;
  bootstrapOptions(): BootstrapOptions;
  logger: LineLogger;
  watchdog?: Watchdog | null;
  /** The fence process (issue 9); null/absent: none (tests, or `fence: {mode: off}` gives a controller in mode off). */
  fence?: FenceController | null;
  /** hactl version published in the member key. */
  version: string;
  monoNow?: () => number;
  /** GET of a member's `/patroni` (tests inject; default: fetch with a timeout). */
  fetchStatus?: FetchStatus;
  /** Timeout of each member health request (Patroni: 2 s). */
  memberHealthTimeoutMs?: number;
  /** A fatal decision: the agent stops with exit code 1. */
  onFatal?: (reason: string) => void;
  /** The restart scheduled on this member (Patroni's member-key `scheduled_restart`), published each cycle. */
  scheduledRestart?: () => ScheduledRestart | null;
  /** POST /failsafe to a member (failsafe-round.ts; tests inject; default: the protocol client without credentials). */
  postFailsafe?: PostFailsafe;
  /** Called each cycle with the dynamic config in force, before PostgreSQL is looked at (the agent applies changed parameters). */
  beforeCycle?: (dynamic: DynamicConfig, view: ClusterView | null) => Promise<void>;
}

/**
 * The body of our POST /failsafe: Patroni's fields with our slot positions (read now, as the status key
 * would carry them: replicas advance their copies to them), and our WAL position (src/protocol FailsafePing).
 */
function failsafePing(local: HactlConfig, input: DecideInput, slots: Record<string, bigint> | undefined): FailsafePing {
  const ping: FailsafePing = { name: local.name, conn_url: connUrl(local), api_url: apiUrl(local) };
  if (slots !== undefined) ping.slots = Object.fromEntries(Object.entries(slots).map(([name, lsn]) => [name, lsnToJson(lsn)]));
  const lsn = input.local.writeLsn;
  if (lsn !== null && lsn <= BigInt(Number.MAX_SAFE_INTEGER)) ping.xlog_location = Number(lsn);
  return ping;
}

/** One cycle, for tests and the REST API's cached state. */
export interface CycleReport {
  decision: Decision;
  view: ClusterView | null;
  dcsOk: boolean;
  observation: LocalObservation;
  dynamic: DynamicConfig;
}

export class HaLoop {
  readonly executor: HaExecutor;
  /** The loop's monotonic clock (decide's `monoNowMs`). */
  readonly monoNow: () => number;
  private stopping = false;
  private running: Promise<void> | null = null;
  private wake: AbortController | null = null;
  private wakeRequested = false;
  private lastTimingWarning: string | null = null;
  private watchdogTiming = '';
  private readonly controlCache: { value: ControlDataCache | null } = { value: null };
  /** failsafe_mode's memory (failsafe-state.ts), shared with the REST handler of POST /failsafe. */
  readonly failsafe: FailsafeState;
  /** The last cycle, as the REST API serves it. */
  last: CycleReport | null = null;
  /** Last view read successfully (used while the DCS is unreachable). */
  lastGoodView: ClusterView | null = null;
  /** Epoch ms of the last successful DCS read, and of the last cycle start. */
  dcsLastSeenMs: number | null = null;
  lastCycleStartMs: number | null = null;

  constructor(private readonly options: HaLoopOptions) {
    this.monoNow = options.monoNow ?? (() => performance.now());
    this.failsafe = new FailsafeState(this.monoNow);
    this.executor = new HaExecutor({
      dcs: options.dcs,
      postgres: options.postgres,
      local: options.local,
      bootstrapOptions: options.bootstrapOptions,
      logger: options.logger,
      watchdog: options.watchdog ?? null,
      fence: options.fence ?? null,
      monoNow: this.monoNow,
      onFatal: (reason) => (options.onFatal ?? (() => {}))(reason),
      wakeup: () => this.wakeup(),
    });
  }

  get loopWaitMs(): number {
    return (this.last?.dynamic.loop_wait ?? this.options.local().bootstrap.dcs.loop_wait) * 1000;
  }

  /** Starts cycling in the background. */
  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.running = this.loop();
  }

  /** Stops after the current cycle (bounded by the caller); long actions are aborted. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeup();
    await this.running;
    this.running = null;
    await this.executor.runner.abort(2000);
  }

  /**
   * The other members' `GET /patroni`, asked as the cycle asks them (same TLS, timeout, injected
   * fetch): for the REST API's switchover checks and failover explanation.
   */
  askMembers(view: ClusterView, only?: readonly string[]): Promise<MemberHealth[]> {
    const members = only ? view.members.filter((m) => only.includes(m.name)) : view.members;
    return collectMemberHealth(members, this.options.local().name, {
      timeoutMs: this.options.memberHealthTimeoutMs ?? 2000,
      fetchStatus: this.options.fetchStatus,
    });
  }

  /** Cuts the current sleep short (REST actions, a finished long action). */
  wakeup(): void {
    this.wakeRequested = true;
    this.wake?.abort();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const started = this.monoNow();
      this.wakeRequested = false;
      try {
        await this.runCycle();
      } catch (err) {
        this.options.logger.error(`Unexpected exception raised, please report it as a BUG: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
      if (this.stopping) break;
      let remaining = this.loopWaitMs - (this.monoNow() - started);
      // As Patroni's watch: wake when primary_race_backoff's countdown ends, not up to a loop_wait later.
      const backoffLeft = raceBackoffLeftMs(this.executor.self, (this.last?.dynamic.primary_race_backoff ?? 0) * 1000, this.monoNow());
      if (backoffLeft !== null && backoffLeft < remaining) remaining = backoffLeft;
      if (remaining <= 0) {
        this.options.logger.warn('Loop time exceeded, rescheduling immediately.');
        continue;
      }
      if (this.wakeRequested) continue;
      await this.sleep(remaining);
    }
  }

  private async sleep(ms: number): Promise<void> {
    const wake = new AbortController();
    this.wake = wake;
    try {
      const view = this.last?.dcsOk ? this.last.view : null;
      if (view) {
        await this.options.dcs.watch(ms, { view, signal: wake.signal });
        return;
      }
    } catch {
      // The store is unreachable: sleep plainly.
    } finally {
      this.wake = null;
    }
    if (wake.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** One HA cycle. Public for tests, which drive cycles one by one. */
  async runCycle(): Promise<CycleReport> {
    const { dcs, logger } = this.options;
    const local = this.options.local();
    this.lastCycleStartMs = Date.now();

    // Self state first: a long action that ends after this point cannot leave its DCS writes
    // (bootstrap's leader key, a promotion) out of the view read below while decide thinks it is over.
    const self = this.executor.snapshot();
    let view: ClusterView | null = null;
    let dcsOk = true;
    try {
      view = await dcs.getCluster();
      this.failsafe.observe(view);
      this.lastGoodView = view;
      this.dcsLastSeenMs = Date.now();
    } catch (err) {
      if (!(err instanceof DcsError)) throw err;
      dcsOk = false;
      view = this.lastGoodView;
      // Names the store's endpoints and the failure ("etcd is not accessible: 127.0.0.1:2379: …"), every cycle as in Patroni.
      logger.error(messageOf(err));
    }
    const { dynamic, warning } = effectiveDynamic(local, view);
    if (warning && warning !== this.lastTimingWarning) logger.warn(warning);
    this.lastTimingWarning = warning;
    this.applyTiming(local, dynamic);
    await this.options.beforeCycle?.(dynamic, view).catch((err: unknown) => logger.error(`applying the configuration: ${messageOf(err)}`));

    let observation = await this.observe();
    if (observation.connectionRefused) {
      logger.error(observation.connectionRefused);
      this.executor.reportProblem('connect', observation.connectionRefused);
    } else if (observation.server && !this.executor.runner.current) {
      this.executor.clearProblem();
    }
    // A dead fence is restarted here, within one cycle; if it cannot be, the policy demotes.
    const fence: FenceInput | null = (await this.options.fence?.beforeDecide(dynamic.pause, observation)) ?? null;
    const decideWithFence = (i: DecideInput): Decision => {
      const raw = decide(i);
      // decide is pure: the loop keeps primary_race_backoff's countdown for it (primary-race-backoff.ts).
      if (raw.primaryRaceBackoffSinceMonoMs !== undefined) this.executor.self.primaryRaceBackoffSinceMonoMs = raw.primaryRaceBackoffSinceMonoMs;
      return fence ? applyFencePolicy(raw, i, fence) : raw;
    };
    const input: DecideInput = {
      view,
      dcsOk,
      local: observation.state,
      config: haConfigFrom(local, dynamic),
      memberHealth: [],
      nowMs: Date.now(),
      monoNowMs: this.monoNow(),
      self,
    };
    if (view && needsMemberHealth(input)) {
      input.memberHealth = await collectMemberHealth(raceMembers(view, input.config.failsafeMode === true), local.name, {
        timeoutMs: this.options.memberHealthTimeoutMs ?? 2000,
        fetchStatus: this.options.fetchStatus,
      });
    }
    const cycle: CycleState = { input, view, dynamic, observation };
    let decision = await this.decideWithFailsafe(input, dynamic, decideWithFence);
    try {
      decision = await this.executor.execute(decision, cycle);
    } catch (err) {
      if (err instanceof DcsError) {
        // A write of this cycle failed: decide again as if the read had failed (lease-loss.ts).
        logger.error(`Error communicating with DCS: ${err.message}`);
        dcsOk = false;
        const again: DecideInput = { ...input, dcsOk: false, view: this.lastGoodView, monoNowMs: this.monoNow(), self: this.executor.snapshot() };
        decision = await this.decideWithFailsafe(again, dynamic, decideWithFence);
        try {
          decision = await this.executor.execute(decision, { ...cycle, input: { ...input, dcsOk: false } });
        } catch (retryErr) {
          logger.error(`failed to ${decision.action}: ${messageOf(retryErr)}`);
        }
      } else {
        logger.error(`failed to ${decision.action}: ${messageOf(err)}`);
        this.executor.reportProblem(decision.action, messageOf(err));
      }
    } finally {
      this.failsafe.takingKey = false;
    }
    // Failsafe mode lasts only while its rounds succeed; anything else (the store is back, a demotion) ends it.
    this.failsafe.activeUntilMonoMs = decision.action === 'keep-failsafe' ? decision.untilMonoMs : null;
    // Patroni's _last_wal_lsn: the next cycle's primary_race_backoff asks whether the WAL moved since.
    if (observation.server) this.executor.self.walLsnLastCycle = walPosition(observation.state);
    // A primary this cycle stopped is no primary any more: the member key written below and GET /patroni
    // (which answers from `last` until the next cycle) must not say so. Another member's race asks the
    // latter, and took a demoted leader's stale "primary" for "Primary (x) is still alive" and stood back
    // (Patroni's API reads the role it set when it demoted).
    if (observation.state.role === 'primary' && STOPS_PRIMARY.has(decision.action)) observation = await this.observe();
    if (dcsOk && view) await this.keepFailsafeKey(input, view);

    if (dcsOk) {
      const data = memberData(local, observation, this.executor.runner.current?.name ?? null, {
        version: this.options.version,
        paused: dynamic.pause,
        fence: this.options.fence?.status() ?? null,
        watchdog: this.options.watchdog?.status() ?? null,
        scheduledRestart: this.options.scheduledRestart?.() ?? null,
        standbyLeader: isStandbyLeader(local.name, view, input.config.standbyCluster),
      });
      await dcs.touchMember(data, dynamic.ttl * 1000).catch((err: unknown) => logger.warn(`could not update the member key: ${messageOf(err)}`));
    }
    this.last = { decision, view, dcsOk, observation, dynamic };
    return this.last;
  }

  /** The local PostgreSQL as it is now, with the upstream the executor last pointed a standby at. */
  private async observe(): Promise<LocalObservation> {
    const observation = await observeLocal(this.options.postgres, { cache: this.controlCache });
    if (observation.state.role !== 'primary') observation.state.receivingFrom = this.executor.upstream;
    return observation;
  }

  /**
   * failsafe_mode's inputs, then the decision: the POST /failsafe round when this primary has no
   * store, and whom we promised not to race. The promise is read, the decision made and a race
   * announced (`takingKey`) in one synchronous step, so a POST /failsafe cannot be accepted between
   * "nobody pinged us" and the attempt to take the key.
   */
  private async decideWithFailsafe(input: DecideInput, dynamic: DynamicConfig, decideOnce: (i: DecideInput) => Decision): Promise<Decision> {
    const local = this.options.local();
    const round = needsFailsafeRound(input)
      ? await askFailsafeMembers(this.failsafe.topology, failsafePing(local, input, await this.executor.slots.currentStatusSlots(input.view, dynamic, input.local.writeLsn)), {
          post: this.options.postFailsafe ?? postFailsafeJson(),
          monoNow: this.monoNow,
        })
      : null;
    const on = input.config.failsafeMode === true;
    const ttl = input.config.ttlMs;
    input.failsafe = {
      round,
      pingedBy: on ? this.failsafe.pingedBy(ttl) : null,
      leaderLsn: on ? this.failsafe.leaderLsn : null,
      leaderSlots: on ? this.failsafe.pingedSlots(ttl) : null,
    };
    if (round) input.monoNowMs = this.monoNow();
    const decision = decideOnce(input);
    if (decision.action === 'acquire-and-promote') this.failsafe.takingKey = true;
    return decision;
  }

  /**
   * The leader keeps the `failsafe` key listing every member (Patroni's `_failsafe_config`, written
   * after each renewal when it changed). Best effort: a failed write is retried next cycle.
   */
  private async keepFailsafeKey(input: DecideInput, view: ClusterView): Promise<void> {
    if (!input.config.failsafeMode || this.executor.self.leaseDeadlineMonoMs === null) return;
    const local = this.options.local();
    const topology = failsafeTopologyToWrite(view, local.name, apiUrl(local));
    if (topology === null) return;
    try {
      await this.options.dcs.setFailsafe(topology);
      this.failsafe.wrote(topology);
    } catch (err) {
      if (!(err instanceof DcsError)) throw err;
      this.options.logger.warn(`could not write the failsafe key: ${messageOf(err)}`);
    }
  }

  /** retry_timeout, ttl and loop_wait are dynamic: pass changes to the store and the watchdog. */
  private applyTiming(local: HactlConfig, dynamic: DynamicConfig): void {
    this.options.dcs.setRetryTimeout(dynamic.retry_timeout * 1000);
    const wd = this.options.watchdog;
    if (!wd) return;
    const key = JSON.stringify([local.watchdog, dynamic.ttl, dynamic.loop_wait]);
    if (key === this.watchdogTiming) return;
    this.watchdogTiming = key;
    wd.reload(watchdogSettings(local.watchdog, dynamic));
  }
}
