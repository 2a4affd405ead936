/**
 * The leader's side of a requested switchover/failover (Patroni's
 * `process_manual_failover_from_leader`, docs/patroni-behaviour.md 4.4). The leader hands over only to
 * a healthy candidate; any request it will not carry out is deleted with the reason logged, which
 * is what makes `POST /switchover` answer "Switchover failed" instead of waiting forever.
 */
import type { Ctx, DecisionDraft } from './context.js';
import type { Decision } from './types.js';
import { failoverActionName, isFailoverPossible } from './failover-eligibility.js';

/**
 * Null when there is nothing to hand over this cycle (notes and `ctx.clearFailover` may be set).
 * `ifLockLost`: what to do if the renewal that precedes the handover fails.
 */
export function handOverFromLeader(ctx: Ctx, ifLockLost: Decision): DecisionDraft | null {
  const failover = ctx.view.failover;
  if (!failover || (ctx.paused && ctx.local.role !== 'primary')) return null;
  const action = failoverActionName(failover);
  const bareAction = action === 'switchover' ? 'switchover' : 'failover';
  const { loopWaitMs } = ctx.input.config;

  let notBeforeMs: number | null = null;
  if (failover.scheduledAt) {
    // Scheduled actions do not run in pause; the request waits for resume.
    if (ctx.paused) return null;
    const { text, ms } = failover.scheduledAt;
    if (ms === null) {
      ctx.warn(`Incorrect value of scheduled_at: ${text}`);
      ctx.clearFailover = failover.keyVersion;
      return null;
    }
    const deltaMs = ms - ctx.input.nowMs;
    if (deltaMs > loopWaitMs) {
      ctx.info(`Awaiting ${bareAction} at ${text} (in ${Math.round(deltaMs / 1000)} seconds)`);
      return null;
    }
    // Patroni: more than int(1.5 * loop_wait) seconds late means the agent was stalled; don't act on it.
    if (deltaMs < -Math.floor((1.5 * loopWaitMs) / 1000) * 1000) {
      ctx.warn(`Found a stale ${bareAction} value, cleaning up: ${text}`);
      ctx.clearFailover = failover.keyVersion;
      return null;
    }
    ctx.info(`Manual scheduled ${bareAction} at ${text}`);
    notBeforeMs = ms;
  }

  if (!failover.leader || failover.leader === ctx.me) {
    if (!failover.candidate || failover.candidate !== ctx.me) {
      if (!failover.candidate && ctx.paused) {
        ctx.warn(`${action[0]!.toUpperCase()}${action.slice(1)} is possible only to a specific candidate in a paused state`);
      } else if (isFailoverPossible(ctx)) {
        return {
          action: 'hand-over',
          candidate: failover.candidate,
          kind: bareAction,
          notBeforeMs,
          failoverVersion: failover.keyVersion,
          reason: `${action}: demoting myself`,
          ifLockLost,
        };
      } else {
        ctx.warn(`${action}: no healthy members found, ${bareAction} is not possible`);
      }
    } else {
      ctx.warn(`${action}: I am already the leader, no need to ${bareAction}`);
    }
  } else {
    ctx.warn(`${action}: leader name does not match: ${failover.leader} != ${ctx.me}`);
  }
  ctx.info('Cleaning up failover key');
  ctx.clearFailover = failover.keyVersion;
  return null;
}
