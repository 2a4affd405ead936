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
import type { BootstrapOptions, PgContext } from '../../postgres/index.js';
import type { LineLogger } from '../../logger.js';
import { watchdogSettings, type Watchdog } from '../watchdog/index.js';
import { applyFencePolicy, type FenceController, type FenceInput } from '../fence/index.js';
import { effectiveDynamic } from '../settings.js';
import { haConfigFrom } from './config.js';
import { decide, needsMemberHealth } from './decide.js';
import { HaExecutor, messageOf, type CycleState } from './executor.js';
import { collectMemberHealth, observeLocal, type ControlDataCache, type FetchStatus, type LocalObservation } from './inputs.js';
import { memberData } from './member.js';
import type { DecideInput, Decision } from './types.js';
import type { DynamicConfig } from '../../config/index.js';

export interface HaLoopOptions {
  dcs: Dcs;
  /** Current PostgreSQL context and local config (SIGHUP may replace both). */
  pg(): PgContext;
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
  /** Called each cycle with the dynamic config in force, before PostgreSQL is looked at (the agent applies changed parameters). */
  beforeCycle?: (dynamic: DynamicConfig, view: ClusterView | null) => Promise<void>;
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
  private readonly monoNow: () => number;
  private stopping = false;
  private running: Promise<void> | null = null;
  private wake: AbortController | null = null;
  private wakeRequested = false;
  private lastTimingWarning: string | null = null;
  private watchdogTiming = '';
  private readonly controlCache: { value: ControlDataCache | null } = { value: null };
  /** The last cycle, as the REST API serves it. */
  last: CycleReport | null = null;
  /** Last view read successfully (used while the DCS is unreachable). */
  lastGoodView: ClusterView | null = null;
  /** Epoch ms of the last successful DCS read, and of the last cycle start. */
  dcsLastSeenMs: number | null = null;
  lastCycleStartMs: number | null = null;

  constructor(private readonly options: HaLoopOptions) {
    this.monoNow = options.monoNow ?? (() => performance.now());
    this.executor = new HaExecutor({
      dcs: options.dcs,
      pg: options.pg,
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
      const remaining = this.loopWaitMs - (this.monoNow() - started);
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

    const observation = await observeLocal(this.options.pg(), { cache: this.controlCache });
    if (observation.state.role !== 'primary') observation.state.receivingFrom = this.executor.upstream;
    // A dead fence is restarted here, within one cycle; if it cannot be, the policy demotes.
    const fence: FenceInput | null = (await this.options.fence?.beforeDecide(dynamic.pause, observation)) ?? null;
    const decideWithFence = (i: DecideInput): Decision => (fence ? applyFencePolicy(decide(i), i, fence) : decide(i));
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
      input.memberHealth = await collectMemberHealth(view.members, local.name, {
        timeoutMs: this.options.memberHealthTimeoutMs ?? 2000,
        fetchStatus: this.options.fetchStatus,
      });
    }
    const cycle: CycleState = { input, view, dynamic, observation };
    let decision = decideWithFence(input);
    try {
      decision = await this.executor.execute(decision, cycle);
    } catch (err) {
      if (err instanceof DcsError) {
        // A write of this cycle failed: decide again as if the read had failed (lease-loss.ts).
        logger.error(`Error communicating with DCS: ${err.message}`);
        dcsOk = false;
        decision = decideWithFence({ ...input, dcsOk: false, view: this.lastGoodView, monoNowMs: this.monoNow(), self: this.executor.snapshot() });
        try {
          decision = await this.executor.execute(decision, { ...cycle, input: { ...input, dcsOk: false } });
        } catch (again) {
          logger.error(`failed to ${decision.action}: ${messageOf(again)}`);
        }
      } else {
        logger.error(`failed to ${decision.action}: ${messageOf(err)}`);
      }
    }

    if (dcsOk) {
      const data = memberData(local, observation, this.executor.runner.current?.name ?? null, {
        version: this.options.version,
        paused: dynamic.pause,
        fence: this.options.fence?.status() ?? null,
        watchdog: this.options.watchdog?.status() ?? null,
      });
      await dcs.touchMember(data, dynamic.ttl * 1000).catch((err: unknown) => logger.warn(`could not update the member key: ${messageOf(err)}`));
    }
    this.last = { decision, view, dcsOk, observation, dynamic };
    return this.last;
  }

  /** retry_timeout, ttl and loop_wait are dynamic: pass changes to the store and the watchdog. */
  private applyTiming(local: HactlConfig, dynamic: DynamicConfig): void {
    const withTimeout = this.options.dcs as Dcs & { setRetryTimeout?: (ms: number) => void };
    withTimeout.setRetryTimeout?.(dynamic.retry_timeout * 1000);
    const wd = this.options.watchdog;
    if (!wd) return;
    const key = JSON.stringify([local.watchdog, dynamic.ttl, dynamic.loop_wait]);
    if (key === this.watchdogTiming) return;
    this.watchdogTiming = key;
    wd.reload(watchdogSettings(local.watchdog, dynamic));
  }
}
