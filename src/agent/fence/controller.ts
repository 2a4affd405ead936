/**
 * The fence as the HA loop sees it: arm after each confirmed leader-key write (from the same send
 * time as the lease belief, deadline.ts), disarm once PostgreSQL is no longer a primary under our
 * key, keep the process alive (restart within one cycle), disarm explicitly in pause, and keep the
 * "was fenced" record until PostgreSQL runs again. `mode: off` makes every call a no-op.
 */
import type { LocalObservation } from '../ha/inputs.js';
import { FenceClient, type FenceClientOptions, type FenceLogger } from './client.js';
import { fenceDeadlineMonoMs } from './deadline.js';
import type { FenceInput } from './policy.js';
import type { FencedRecord } from './protocol.js';
import type { FenceSettings } from './settings.js';
import type { FenceStatus } from '../api/types.js';

/** What the executor calls (ha/executor.ts). */
export interface FenceHooks {
  /** A leader-key acquire/renewal sent at `sentAtMonoMs` with `ttlMs` was confirmed. */
  leaseConfirmed(write: { sentAtMonoMs: number; ttlMs: number; paused: boolean }): Promise<void>;
  /** PostgreSQL is stopped or a replica and the key is no longer (or not) ours: stop enforcing. */
  release(reason: string): Promise<void>;
}

/** `fence` in GET /patroni: one shape, defined with the REST types. */
export type FenceStatusBody = FenceStatus;

export interface FenceControllerOptions {
  settings: FenceSettings;
  logger: FenceLogger;
  dataDir(): string;
  monoNow?: () => number;
  /** Passed to the FenceClient (entry, spawn, forwardLine …). */
  client?: Partial<Omit<FenceClientOptions, 'settings' | 'logger' | 'onFenced' | 'onDied'>>;
}

export class FenceController implements FenceHooks {
  readonly client: FenceClient | null;
  private readonly monoNow: () => number;
  private record: FencedRecord | null = null;
  private paused = false;
  /** The loop's wakeup (set once the loop exists): a dead fence or a kill is handled at once. */
  wakeup: () => void = () => {};

  constructor(private readonly options: FenceControllerOptions) {
    this.monoNow = options.monoNow ?? (() => performance.now());
    this.client =
      options.settings.mode === 'on'
        ? new FenceClient({
            ...options.client,
            settings: options.settings,
            logger: options.logger,
            onFenced: (record) => {
              this.record = record;
              options.logger.error(`demoted by the fence: it killed PostgreSQL (postmaster ${record.postmasterPid}) ${record.lateByMs} ms after the deadline, because ${record.reason}`);
              this.wakeup();
            },
            onDied: () => this.wakeup(),
          })
        : null;
  }

  get mode(): 'on' | 'off' {
    return this.options.settings.mode;
  }

  /** At agent start: read a record left by a kill, start the fence process. */
  async start(): Promise<void> {
    const { logger, settings } = this.options;
    if (!this.client) {
      logger.warn('fence: mode off — a frozen or killed agent can leave a writable primary behind (no self-fencing)');
      return;
    }
    this.record = this.client.readRecord();
    if (this.record) logger.warn(`fence: PostgreSQL was fenced at ${this.record.fencedAt} (${this.record.reason}); it rejoins as a replica if another member can lead`);
    try {
      await this.client.start();
      logger.info(`fence: process ${this.client.pid} started (safety margin ${settings.safetyMarginMs} ms, record ${settings.recordFile})`);
    } catch (err) {
      logger.error(`fence: could not start the fence process: ${err instanceof Error ? err.message : String(err)}; this member will not run a primary`);
    }
  }

  /**
   * Once per cycle, after PostgreSQL was observed and before deciding: restart a dead fence,
   * disarm in pause (once, logged), forget the record once PostgreSQL runs again.
   */
  async beforeDecide(paused: boolean, observation: LocalObservation): Promise<FenceInput> {
    if (!this.client) return { mode: 'off', live: false, wasFenced: false };
    const { logger } = this.options;
    if (paused !== this.paused) {
      this.paused = paused;
      if (paused) {
        await this.client.disarm('cluster paused');
        logger.warn('fence: disabled while the cluster is paused (maintenance mode): nothing stops this primary if the agent hangs');
      } else {
        logger.info('fence: enabled again (maintenance mode ended)');
      }
    }
    const live = await this.client.ensureLive();
    const startedAt = observation.server?.postmasterStartedAt ?? null;
    if (this.record && startedAt && startedAt.getTime() > Date.parse(this.record.fencedAt)) {
      logger.info(`fence: PostgreSQL runs again (started ${startedAt.toISOString()}); the fence record of ${this.record.fencedAt} is cleared`);
      this.record = null;
      this.client.clearRecord();
    }
    return { mode: 'on', live, wasFenced: this.record !== null };
  }

  async leaseConfirmed(write: { sentAtMonoMs: number; ttlMs: number; paused: boolean }): Promise<void> {
    if (!this.client || write.paused) return;
    const deadline = fenceDeadlineMonoMs({ sentAtMonoMs: write.sentAtMonoMs, ttlMs: write.ttlMs, safetyMarginMs: this.options.settings.safetyMarginMs });
    const ack = await this.client.arm(deadline, this.options.dataDir(), 'leader key renewed');
    if (!ack) this.options.logger.warn('fence: no answer to arm; checking the fence process');
    if (!ack) this.wakeup();
  }

  async release(reason: string): Promise<void> {
    if (!this.client?.armed) return;
    await this.client.disarm(reason);
  }

  /** Clean shutdown with PostgreSQL stopped (or paused): disarm and let the process exit. */
  async stop(): Promise<void> {
    await this.client?.stop();
  }

  /** Shutdown that could not stop PostgreSQL: leave the fence enforcing the last deadline on its own. */
  detach(): void {
    this.client?.detach();
  }

  status(): FenceStatusBody {
    const { settings } = this.options;
    const client = this.client;
    const deadline = client?.deadlineMonoMs ?? null;
    const last = this.record ?? client?.lastFenced ?? null;
    const body: FenceStatusBody = {
      mode: settings.mode,
      running: client?.live ?? false,
      pid: client?.pid ?? null,
      armed: client?.armed ?? false,
      deadline_remaining_ms: deadline === null ? null : Math.round(deadline - this.monoNow()),
      safety_margin_ms: settings.safetyMarginMs,
      restarts: client?.restarts ?? 0,
      last_fenced: last ? { at: last.fencedAt, reason: last.reason, late_by_ms: last.lateByMs, postmaster_pid: last.postmasterPid } : null,
    };
    if (client && this.paused) body.disabled_reason = 'paused';
    return body;
  }
}
