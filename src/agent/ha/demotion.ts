/**
 * A primary stepping down, the two ways the executor does it: a demotion (the key is lost, released,
 * or kept as a standby leader) and the switchover handover (the key goes to a candidate as fast as
 * possible). Both abort the running long action, disarm the watchdog and stop PostgreSQL through
 * stop-primary.ts; the fence stands down only once PostgreSQL is down.
 */
import type { StandbyTarget } from '../../postgres/index.js';
import type { LineLogger } from '../../logger.js';
import { messageOf } from '../error-text.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { LocalPostgres } from './local-postgres.js';
import type { LongActionRunner } from './long-action-runner.js';
import type { ExecutorMemory } from './long-actions.js';
import { killedLine, stopPrimary } from './stop-primary.js';

/** Patroni's grace for a long action to notice its abort before a demotion goes on without it. */
export const ABORT_WAIT_MS = 1000;

export interface DemotionContext {
  postgres: LocalPostgres;
  logger: LineLogger;
  lease: LeaseKeeper;
  runner: LongActionRunner;
  memory: ExecutorMemory;
  /** Patroni's primary_stop_timeout per stop mode, when it applies (synchronous mode); null: none. */
  stopBoundMs: number | null;
}

export interface DemoteOptions {
  mode: 'graceful' | 'immediate';
  releaseLeader: boolean;
  /** demote-cluster: the key stays ours (a standby leader), renewed with `renew` once stopped. */
  keepLeader: boolean;
  renew(): Promise<unknown>;
  /** The member to follow, and where it streams from (null: none known yet). */
  leader: string | null;
  target: StandbyTarget | null;
  /** Start again at once as a standby (Patroni's demote('offline'), the store unreachable). */
  offline: boolean;
}

/**
 * Stop being a primary: abort whatever runs, disarm the watchdog, stop PostgreSQL, release the key if
 * asked, and configure it as a standby of `leader` (the next cycle starts it, checking divergence first).
 */
export async function demote(ctx: DemotionContext, options: DemoteOptions): Promise<void> {
  const aborted = await ctx.runner.abort(ABORT_WAIT_MS);
  if (aborted) ctx.logger.info(`aborted ${aborted}`);
  ctx.lease.disableWatchdog();
  const { killed } = await stopPrimary(ctx.postgres, options.mode, undefined, ctx.stopBoundMs);
  if (killed) ctx.logger.warn(killedLine(ctx.stopBoundMs));
  // Only once it is down: a demotion that hangs past the deadline is the fence's to finish.
  await ctx.lease.primaryStopped('demoted');
  ctx.memory.self.startingSinceMonoMs = null;
  if (options.releaseLeader) await ctx.lease.release();
  // demote-cluster: the key stays ours and we become the standby leader; renewed now, as the stop took time.
  else if (options.keepLeader) await options.renew();
  else ctx.lease.forget();
  await ctx.postgres.configure({ role: 'replica', primary: options.target });
  ctx.memory.upstream = options.target ? options.leader : null;
  ctx.memory.self.divergence = null;
  if (options.offline) {
    // Patroni's demote('offline'): without the store nobody can be followed, but a read-only standby of
    // nobody still serves reads (standby.signal was just written: it cannot accept a write). A failed
    // start is left to the next cycles, which start a stopped member once a leader is known.
    ctx.logger.info('starting PostgreSQL as a read-only standby while the DCS is not accessible');
    await ctx.postgres.start().catch((err: unknown) => ctx.logger.warn(`could not start PostgreSQL as a standby after the demotion: ${messageOf(err)}`));
  }
}

/**
 * Switchover from the leader: a graceful stop, then delete the key with the shutdown checkpoint's LSN
 * as the last known position so the candidate may take it at once. Everything from the stop to the
 * delete is write downtime: the fence's stand-down runs while the checkpoint position is read, and
 * PostgreSQL is configured as a replica only after the delete (Patroni's demote releases the key
 * before it calls follow(); a crash in between leaves a stopped member without the key, which starts
 * as a replica and configures itself then). `waitMs`: a scheduled switchover's time still to come.
 * `paused`: started again as a standby of nobody, as Patroni's demote does (in pause no later cycle
 * starts a stopped server; the running standby then follows the new leader). Unpaused, the next cycle
 * starts it pointed at the new leader, after a divergence check.
 */
export async function handOver(ctx: DemotionContext, waitMs: number, paused = false): Promise<void> {
  if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
  await ctx.runner.abort(ABORT_WAIT_MS);
  ctx.lease.disableWatchdog();
  const { checkpointLsn, killed } = await stopPrimary(ctx.postgres, 'graceful', () => ctx.lease.primaryStopped('switchover: PostgreSQL stopped'), ctx.stopBoundMs);
  if (killed) ctx.logger.warn(killedLine(ctx.stopBoundMs));
  ctx.memory.upstream = null;
  ctx.memory.self.divergence = null;
  try {
    if (await ctx.lease.release(checkpointLsn)) ctx.logger.info('released the leader key after a clean shutdown for the switchover');
  } finally {
    await ctx.postgres.configure({ role: 'replica', primary: null });
  }
  if (paused) {
    await ctx.postgres.start().catch((err: unknown) => ctx.logger.warn(`could not start PostgreSQL as a standby after the switchover: ${messageOf(err)}`));
  }
}
