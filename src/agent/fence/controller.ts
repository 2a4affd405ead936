/**
 * The fence as the HA loop sees it: arm after each confirmed leader-key write (from the same send
 * time as the lease belief, deadline.ts), disarm once PostgreSQL is no longer a primary under our
 * key, keep the process alive (restart within one cycle), disarm explicitly in pause, and keep the
 * "was fenced" record until PostgreSQL runs again. `mode: off` makes every call a no-op.
 */
import type { LeaderRelease } from '../../dcs/types.js';
import type { LocalObservation } from '../ha/inputs.js';
import { FenceClient, type FenceClientOptions, type FenceLogger } from './client.js';
import { fenceDeadlineMonoMs } from './deadline.js';
import { holderNowMs } from './holder-clock.js';
import type { FenceInput } from './policy.js';
import type { FencedRecord } from './protocol.js';
import { prepareFenceDir, type FenceSettings } from './settings.js';
import type { FenceStatus } from '../../protocol/index.js';

/** What the executor calls (ha/executor.ts). */
export interface FenceHooks {
  /**
   * A leader-key acquire/renewal was confirmed; `leaseDeadlineMonoMs` is the holder's belief the store
   * returned, `release` the key exactly as that write left it (issue 17: the fence deletes it once the
   * primary's death is certain; null when the store cannot say, and the key then just expires).
   */
  leaseConfirmed(write: { leaseDeadlineMonoMs: number; paused: boolean; release?: LeaderRelease | null }): Promise<void>;
  /**
   * PostgreSQL is stopped or a replica and the key is no longer (or not) ours: stop enforcing.
   * `seen` is the agent's evidence: 'replica' — it answered SQL in recovery this cycle, so the fence
   * disarms at once; 'stopped' — the fence disarms only if it sees nothing running in the data
   * directory itself (issue 13 item 4: "stopped" may be a guess, e.g. an unreadable pg_control).
   * False: the fence refused and still enforces its deadline (the key must then not be deleted).
   */
  release(reason: string, seen: 'stopped' | 'replica'): Promise<boolean>;
}

/** `fence` in GET /patroni: one shape, defined with the REST types. */
export type FenceStatusBody = FenceStatus;

export interface FenceControllerOptions {
  settings: FenceSettings;
  logger: FenceLogger;
  dataDir(): string;
  /** The holder clock in ms (default holder-clock.ts's; the agent's lease deadlines are on it). */
  monoNow?: () => number;
  /** Passed to the FenceClient (entry, spawn, forwardLine …). */
  client?: Partial<Omit<FenceClientOptions, 'settings' | 'logger' | 'onFenced' | 'onDied'>>;
}

/** How long a stand-down waits for a stopped server's last processes to exit before it gives up. */
const STAND_DOWN_WAIT_MS = 3000;

export class FenceController implements FenceHooks {
  readonly client: FenceClient | null;
  private readonly monoNow: () => number;
  private record: FencedRecord | null = null;
  private paused = false;
  /** The loop's wakeup (set once the loop exists): a dead fence or a kill is handled at once. */
  wakeup: () => void = () => {};

  constructor(private readonly options: FenceControllerOptions) {
    this.monoNow = options.monoNow ?? holderNowMs;
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
    const unsafe = await prepareFenceDir(settings);
    if (unsafe) {
      logger.error(`fence: ${unsafe}; the fence process is not started and this member will not run a primary`);
      return;
    }
    this.record = this.client.readRecord();
    if (this.record) logger.warn(`fence: PostgreSQL was fenced at ${this.record.fencedAt} (${this.record.reason}); it rejoins as a replica if another member can lead`);
    try {
      await this.client.start();
      const onDeath = settings.onAgentDeath === 'kill' ? '; on_agent_death kill: if the agent dies, PostgreSQL is killed and the leader key released at once' : '';
      logger.info(`fence: process ${this.client.pid} started (safety margin ${settings.safetyMarginMs} ms, record ${settings.recordFile}${onDeath})`);
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

  async leaseConfirmed(write: { leaseDeadlineMonoMs: number; paused: boolean; release?: LeaderRelease | null }): Promise<void> {
    if (!this.client || write.paused) return;
    const deadline = fenceDeadlineMonoMs({ leaseDeadlineMonoMs: write.leaseDeadlineMonoMs, safetyMarginMs: this.options.settings.safetyMarginMs });
    const ack = await this.client.arm(deadline, this.options.dataDir(), 'leader key renewed', write.release ?? null);
    // Slow (a starved host) or gone: the next cycle's ensureLive tells which; a dead fence wakes the loop itself (onDied).
    if (!ack) this.options.logger.warn('fence: no answer to arm yet; the fence is checked next cycle');
  }

  async release(reason: string, seen: 'stopped' | 'replica'): Promise<boolean> {
    const client = this.client;
    if (!client?.armed) return true;
    // A stopped server's last processes (the syslogger drains its pipe after the postmaster exits,
    // backends notice the postmaster's death) go within moments: ask again for a short, bounded time.
    const until = this.monoNow() + STAND_DOWN_WAIT_MS;
    for (;;) {
      await client.disarm(reason, { ifStopped: seen === 'stopped' });
      // No answer leaves the arm in place too (false): the key stays until the fence is sure.
      if (!client.lastRefusal) return !client.armed;
      if (this.monoNow() >= until) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // The fence saw PostgreSQL processes: it keeps the deadline (and kills at it unless a renewal comes).
    this.options.logger.error(`fence: still armed: ${client.lastRefusal}`);
    return false;
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
