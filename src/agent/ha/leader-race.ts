/**
 * The leader key is free (patroni-behaviour.md 4.2): decide whether this member should try to
 * take it. Taking it is one atomic create-if-absent in the executor, so two members that both
 * decide to race cannot both win; these checks decide who should try, not who wins.
 */
import { bare, type Ctx } from './context.js';
import { follow } from './follow.js';
import { clusterTimeline, failoverActionName, failoverLimitation, healthOf, isFailoverPossible, isHealthiestAmong, isNoFailover } from './health.js';
import type { DecisionDraft } from './context.js';
import { syncAllowsRace } from './sync-race.js';

/**
 * Patroni's `manual_failover_process_no_leader`: true = I am the one to race, false = not me,
 * null = I deleted a stale request (as the paused primary) and the normal checks continue.
 */
function manualFailoverNoLeader(ctx: Ctx): boolean | null {
  const failover = ctx.view.failover!;
  const action = failoverActionName(failover);
  if (failover.candidate) {
    if (failover.candidate === ctx.me) return true;
    if (ctx.paused) {
      // Only the primary removes a request for a member that is gone, so members do not all race to delete it.
      if (!ctx.member(failover.candidate) && ctx.local.role === 'primary') {
        ctx.warn(`${action}: removing failover key because failover candidate is not running`);
        ctx.clearFailover = failover.keyVersion;
        return null;
      }
      return false;
    }
    if (ctx.member(failover.candidate)) {
      const limitation = failoverLimitation(healthOf(ctx, failover.candidate));
      if (limitation === null) {
        ctx.info(`${action}: to ${failover.candidate}, i am ${ctx.me}`);
        return false;
      }
      ctx.warn(`${action}: member ${failover.candidate} is ${limitation}`);
    }
    // The requested candidate cannot take over: any healthy member except the former leader may.
  } else if (ctx.paused) {
    return false;
  }
  if (failover.leader && failover.leader === ctx.me) {
    // The former leader races only when nobody else can take over.
    return !isFailoverPossible(ctx, { excludeCandidate: failover.candidate !== null });
  }
  // A manual race ignores maximum_lag_on_failover: the operator asked for it.
  return isHealthiestAmong(ctx, ctx.view.members.filter((m) => m.name !== failover.leader), false);
}

/** Patroni's `is_healthiest_node`, in its order. */
export function isHealthiestNode(ctx: Ctx): boolean {
  const { local, config } = ctx.input;
  const failover = ctx.view.failover;
  if (ctx.paused && !isNoFailover(config.tags) && failover && !failover.scheduledAt) {
    const manual = manualFailoverNoLeader(ctx);
    if (manual !== null) return manual;
  }
  if (local.role === 'primary') {
    // In pause a running primary takes the free key back, but only for the cluster it belongs to.
    if (ctx.paused) return ctx.view.initialize === null || ctx.view.initialize === local.systemIdentifier;
    // A primary that froze long enough to lose the key must not take it back after another member
    // promoted (and released it again): the cluster timeline tells.
    const clusterTl = clusterTimeline(ctx.view);
    if ((local.timeline ?? 0) < clusterTl) {
      ctx.warn(`My timeline ${local.timeline} is behind last known cluster timeline ${clusterTl}`);
      return false;
    }
    return true;
  }
  if (ctx.paused || isNoFailover(config.tags) || local.role !== 'replica') return false;
  if (failover) return manualFailoverNoLeader(ctx) ?? false;
  // Synchronous mode: only the former leader or a listed synchronous standby holds every acknowledged commit.
  if (!syncAllowsRace(ctx)) return false;
  return isHealthiestAmong(ctx, ctx.view.members, true);
}

export function decideLeaderRace(ctx: Ctx): DecisionDraft {
  const { local, config } = ctx.input;
  if (isHealthiestNode(ctx)) {
    const alreadyPrimary = local.role === 'primary';
    const failoverVersion = ctx.view.failover?.keyVersion ?? null;
    if (failoverVersion !== null) ctx.info('Cleaning up failover key after acquiring leader lock...');
    return {
      action: 'acquire-and-promote',
      promote: !alreadyPrimary,
      failoverVersion,
      reason: alreadyPrimary ? 'acquired session lock as a leader' : 'promoted self to leader by acquiring session lock',
      ifLockLost: bare(
        follow(ctx, null, 'demoted self after trying and failing to obtain lock', 'following new leader after trying and failing to obtain lock'),
      ),
    };
  }
  if (isNoFailover(config.tags)) {
    return follow(ctx, null, 'demoting self because I am not allowed to become primary', 'following a different leader because I am not allowed to promote');
  }
  return follow(ctx, null, 'demoting self because i am not the healthiest node', 'following a different leader because i am not the healthiest node');
}
