/**
 * The leader key is free (docs/patroni-behaviour.md 4.2): decide whether this member should try to
 * take it. Taking it is one atomic create-if-absent in the executor, so two members that both
 * decide to race cannot both win; these checks decide who should try, not who wins.
 */
import { bare, type Ctx } from './context.js';
import { failsafeExclusion, raceMembers } from './failsafe.js';
import { follow } from './follow.js';
import { healthOf, isNoFailover, type Exclusion } from './candidate-facts.js';
import { clusterTimeline, failoverActionName, healthiestExclusion, isFailoverPossible, limitationOf } from './failover-eligibility.js';
import type { DecisionDraft } from './context.js';
import { primaryRaceBackoff } from './primary-race-backoff.js';
import { demoteToStandby } from './standby-leader.js';
import { syncRaceExclusion } from './sync-race.js';

/** Not racing because a requested switchover/failover goes to someone else. */
function manual(ctx: Ctx, reason: string): Exclusion {
  return { code: 'manual', reason: `${failoverActionName(ctx.view.failover)} requested: ${reason}` };
}

/**
 * Patroni's `manual_failover_process_no_leader`: null = I am the one to race, an exclusion = not
 * me, 'continue' = I deleted a stale request (as the paused primary) and the normal checks continue.
 */
function manualFailoverNoLeader(ctx: Ctx): Exclusion | null | 'continue' {
  const failover = ctx.view.failover!;
  const action = failoverActionName(failover);
  if (failover.candidate) {
    if (failover.candidate === ctx.me) return null;
    if (ctx.paused) {
      // Only the primary removes a request for a member that is gone, so members do not all race to delete it.
      if (!ctx.member(failover.candidate) && ctx.local.role === 'primary') {
        ctx.warn(`${action}: removing failover key because failover candidate is not running`);
        ctx.clearFailover = failover.keyVersion;
        return 'continue';
      }
      return manual(ctx, `${failover.candidate} is the candidate (paused: no other member races)`);
    }
    if (ctx.member(failover.candidate)) {
      const limitation = limitationOf(healthOf(ctx, failover.candidate));
      if (limitation === null) {
        ctx.info(`${action}: to ${failover.candidate}, i am ${ctx.me}`);
        return manual(ctx, `${failover.candidate} is the candidate`);
      }
      ctx.warn(`${action}: member ${failover.candidate} is ${limitation.reason}`);
    }
    // The requested candidate cannot take over: any healthy member except the former leader may.
  } else if (ctx.paused) {
    return pausedExclusion();
  }
  if (failover.leader && failover.leader === ctx.me) {
    // The former leader races only when nobody else can take over.
    return isFailoverPossible(ctx, { excludeCandidate: failover.candidate !== null })
      ? manual(ctx, 'the former leader races only when no other member can take over')
      : null;
  }
  // A manual race ignores maximum_lag_on_failover: the operator asked for it.
  return healthiestExclusion(ctx, ctx.view.members.filter((m) => m.name !== failover.leader), false);
}

function pausedExclusion(): Exclusion {
  return { code: 'paused', reason: 'the cluster is paused (maintenance mode): no automatic failover' };
}

/**
 * Patroni's `is_healthiest_node`, in its order: null when this member should race for the free
 * leader key, else why not. The failover explanation (race-explanation.ts) asks this same function
 * on behalf of every member, so what it prints is what the race does.
 */
export function raceExclusion(ctx: Ctx): Exclusion | null {
  const { local, config, self, monoNowMs } = ctx.input;
  if (self.raceBackoffUntilMonoMs != null && monoNowMs < self.raceBackoffUntilMonoMs) {
    ctx.info('backoff: skip leader race after pre_promote script failure and releasing the lock voluntarily');
    return { code: 'backoff', reason: `backing off for ${Math.ceil((self.raceBackoffUntilMonoMs - monoNowMs) / 1000)} s after its pre_promote script failed` };
  }
  const failover = ctx.view.failover;
  if (ctx.paused && !isNoFailover(config.tags) && failover && !failover.scheduledAt) {
    const verdict = manualFailoverNoLeader(ctx);
    if (verdict !== 'continue') return verdict;
  }
  if (local.role === 'primary') {
    // In pause a running primary takes the free key back, but only for the cluster it belongs to.
    if (ctx.paused) {
      if (ctx.view.initialize === null || ctx.view.initialize === local.systemIdentifier) return null;
      return { code: 'not-running', reason: `runs a primary of another cluster (system identifier ${local.systemIdentifier})` };
    }
    // A primary that froze long enough to lose the key must not take it back after another member
    // promoted (and released it again): the cluster timeline tells.
    const clusterTl = clusterTimeline(ctx.view);
    if ((local.timeline ?? 0) < clusterTl) {
      ctx.warn(`My timeline ${local.timeline} is behind last known cluster timeline ${clusterTl}`);
      return { code: 'timeline', reason: `timeline ${local.timeline} is behind the cluster timeline ${clusterTl}` };
    }
    return null;
  }
  if (ctx.paused) return pausedExclusion();
  if (isNoFailover(config.tags)) {
    const why = config.tags.nofailover === true ? 'tagged nofailover' : `failover_priority ${String(config.tags.failover_priority)}`;
    return { code: 'nofailover', reason: `not allowed to promote (${why})` };
  }
  if (local.role !== 'replica') return { code: 'not-running', reason: `PostgreSQL is not running as a replica (${local.role})` };
  if (failover) {
    const verdict = manualFailoverNoLeader(ctx);
    return verdict === 'continue' ? manual(ctx, 'stale request removed') : verdict;
  }
  const failsafe = failsafeExclusion(ctx);
  if (failsafe) return failsafe;
  // Synchronous mode: only the former leader or a listed synchronous standby holds every acknowledged commit.
  return syncRaceExclusion(ctx) ?? healthiestExclusion(ctx, raceMembers(ctx.view, config.failsafeMode === true), true);
}

export function decideLeaderRace(ctx: Ctx): DecisionDraft {
  const { local } = ctx.input;
  const remote = ctx.standby;
  // A standby cluster never has a primary: one found here stops before anything races.
  const demote = remote ? demoteToStandby(ctx, remote) : null;
  if (demote) return demote;
  // Patroni handles primary_race_backoff first, before is_healthiest_node (process_unhealthy_cluster).
  const backoff = primaryRaceBackoff(ctx.input);
  if (backoff) {
    if (backoff.sinceMonoMs !== (ctx.input.self.primaryRaceBackoffSinceMonoMs ?? null)) ctx.raceBackoffSinceMonoMs = backoff.sinceMonoMs;
    if (backoff.postpone) return { action: 'no-action', reason: backoff.postpone };
  }
  const exclusion = raceExclusion(ctx);
  if (exclusion === null) {
    const alreadyPrimary = local.role === 'primary';
    const failoverVersion = ctx.view.failover?.keyVersion ?? null;
    if (failoverVersion !== null) ctx.info('Cleaning up failover key after acquiring leader lock...');
    const ifLockLost = bare(
      follow(ctx, null, 'demoted self after trying and failing to obtain lock', 'following new leader after trying and failing to obtain lock'),
    );
    if (remote) {
      // Patroni: "standby leader disappeared, and this is the healthiest replica": take the key, stream from the remote.
      return {
        action: 'acquire-and-promote',
        promote: false,
        failoverVersion,
        follow: { leader: remote.name, repoint: local.receivingFrom !== remote.name, checkDivergence: true },
        reason: 'promoted self to a standby leader by acquiring session lock',
        ifLockLost,
      };
    }
    return {
      action: 'acquire-and-promote',
      promote: !alreadyPrimary,
      failoverVersion,
      reason: alreadyPrimary ? 'acquired session lock as a leader' : 'promoted self to leader by acquiring session lock',
      ifLockLost,
    };
  }
  if (exclusion.code === 'nofailover') {
    return follow(ctx, null, 'demoting self because I am not allowed to become primary', 'following a different leader because I am not allowed to promote');
  }
  // Patroni's line, plus why (issue 17: operators could not tell which check kept a replica out).
  const why = ` (${exclusion.reason})`;
  return follow(ctx, null, `demoting self because i am not the healthiest node${why}`, `following a different leader because i am not the healthiest node${why}`);
}
