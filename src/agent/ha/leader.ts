/**
 * This member holds the leader key and PostgreSQL runs (docs/patroni-behaviour.md 4.3): renew the key
 * every cycle, carry out a requested switchover, promote if we hold the key but are not primary yet.
 */
import { bare, runsAsPrimary, type Ctx, type DecisionDraft } from './context.js';
import { isNoFailover } from './candidate-facts.js';
import { handOverFromLeader } from './switchover.js';
import type { Decision } from './types.js';

/**
 * What the executor does when renewing our key returns false: somebody else may hold it already,
 * so a primary stops at once and does not touch the key (Patroni's `immediate-nolock`).
 */
export function lockLostDecision(ctx: Ctx): Decision {
  const notes = [{ level: 'error' as const, message: 'failed to update leader lock' }];
  if (runsAsPrimary(ctx.local)) {
    if (ctx.paused) return { ...bare({ action: 'no-action', reason: 'continue to run as primary after failing to update leader lock in DCS' }), notes };
    return {
      ...bare({ action: 'demote', mode: 'immediate', releaseLeader: false, leader: null, reason: 'demoted self because failed to update leader lock in DCS' }),
      notes,
    };
  }
  return { ...bare({ action: 'no-action', reason: 'not promoting because failed to update leader lock in DCS' }), notes };
}

export function decideAsLeader(ctx: Ctx): DecisionDraft {
  const { local, config } = ctx.input;
  if (ctx.paused && local.role !== 'primary') {
    if (ctx.view.failover?.candidate === ctx.me) return { action: 'no-action', reason: 'waiting to become primary after promote...' };
    return { action: 'release-leader', reason: 'removed leader lock because postgres is not running as primary' };
  }
  const ifLockLost = lockLostDecision(ctx);
  const handOver = handOverFromLeader(ctx, ifLockLost);
  if (handOver) return handOver;
  if (local.role === 'primary') {
    return { action: 'renew', reason: `no action. I am (${ctx.me}), the leader with the lock`, ifLockLost };
  }
  // hactl deviation: a member tagged nofailover that somehow holds the key (tags changed after it
  // took it) gives it up rather than promote; Patroni would promote it.
  if (isNoFailover(config.tags)) {
    return { action: 'release-leader', reason: 'released leader key because I am not allowed to promote' };
  }
  return { action: 'promote', reason: 'promoted self to leader because I had the session lock', ifLockLost };
}
