/**
 * PostgreSQL is not simply running: a long action is in flight, it is still starting, or it is
 * down (docs/patroni-behaviour.md 4.1 steps 3, 4, 8; 4.5; 4.6).
 */
import { bare, runsAsPrimary, type Ctx, type DecisionDraft } from './context.js';
import { divergedDecision, needsDivergenceCheck } from './follow.js';
import { isFailoverPossible } from './failover-eligibility.js';
import { demoteToStandby } from './standby-leader.js';
import { handOverFromLeader } from './switchover.js';
import type { Decision } from './types.js';

function elapsedSinceMs(ctx: Ctx, startMonoMs: number | null): number {
  return startMonoMs === null ? 0 : ctx.input.monoNowMs - startMonoMs;
}

/** Long action in progress without (or after losing) the key: never let it end in a primary. */
function longActionWithoutLock(ctx: Ctx): DecisionDraft {
  const name = ctx.input.self.longAction!.name;
  if (name !== 'bootstrap' && !ctx.paused) {
    // Already a primary (even if the promote that made it one is still "running"): demoting also
    // aborts the action. Patroni checks the promote first and can miss a promote that completed.
    if (runsAsPrimary(ctx.local)) {
      ctx.info(`Demoting primary during ${name}`);
      return { action: 'demote', mode: 'immediate', releaseLeader: false, leader: ctx.view.leader?.name ?? null, reason: `lost leader lock during ${name}` };
    }
    if (name === 'promote') return { action: 'cancel-long-action', reason: 'lost leader before promote' };
  }
  if (ctx.view.leader === null) ctx.info('not healthy enough for leader race');
  return { action: 'no-action', reason: `${name} in progress` };
}

/** Patroni's `handle_long_action_in_progress`: the holder keeps its key alive while the action runs. */
export function decideDuringLongAction(ctx: Ctx): DecisionDraft {
  const { longAction } = ctx.input.self;
  const name = longAction!.name;
  if (!ctx.iAmLeader) return longActionWithoutLock(ctx);
  // The alternative's notes are logged only if it is carried out, not with the renewal.
  const noteCount = ctx.notes.length;
  const ifLockLost: Decision = { ...bare(longActionWithoutLock(ctx)), notes: ctx.notes.splice(noteCount) };
  if (
    name === 'doing crash recovery in a single user mode' &&
    elapsedSinceMs(ctx, longAction!.startedMonoMs) >= ctx.input.config.primaryStartTimeoutMs &&
    isFailoverPossible(ctx)
  ) {
    ctx.info('Demoting self because crash recovery is taking too long');
    return { action: 'demote', mode: 'immediate', releaseLeader: true, leader: null, reason: 'terminated crash recovery because of startup timeout' };
  }
  return { action: 'renew', reason: `updated leader lock during ${name}`, ifLockLost };
}

/** Patroni's `handle_starting_instance`, for the key holder. Null: a standby starting up follows the normal path. */
export function decideStarting(ctx: Ctx): DecisionDraft | null {
  if (ctx.paused || !ctx.iAmLeader) return null;
  // A standby leader must not come up writable (a data directory left as a primary's).
  const notPrimary = ctx.standby ? demoteToStandby(ctx, ctx.standby) : null;
  if (notPrimary) return notPrimary;
  const ifLockLost = bare({
    action: 'stop',
    releaseLeader: false,
    reason: 'stopped PostgreSQL while starting up because leader key was lost',
  });
  const timeLeftMs = ctx.input.config.primaryStartTimeoutMs - elapsedSinceMs(ctx, ctx.input.self.startingSinceMonoMs);
  if (timeLeftMs <= 0) {
    if (isFailoverPossible(ctx)) {
      ctx.info('Demoting self because primary startup is taking too long');
      return { action: 'demote', mode: 'immediate', releaseLeader: true, leader: null, reason: 'stopped PostgreSQL because of startup timeout' };
    }
    return { action: 'renew', reason: 'primary start has timed out, but continuing to wait because failover is not possible', ifLockLost };
  }
  const handOver = handOverFromLeader(ctx, ifLockLost);
  if (handOver) return handOver;
  return { action: 'renew', reason: `PostgreSQL is still starting up, ${Math.round(timeLeftMs / 1000)} seconds until timeout`, ifLockLost };
}

/** Start a stopped replica (or a diverged former primary) towards `leader`. */
function startAsSecondary(ctx: Ctx, leader: string | null, reason = 'starting as a secondary'): DecisionDraft {
  if (leader !== null) {
    const diverged = divergedDecision(ctx, leader);
    if (diverged) return diverged;
  }
  return {
    action: 'start-as-replica',
    leader,
    checkDivergence: leader !== null && needsDivergenceCheck(ctx, leader),
    reason,
  };
}

/** Patroni's `recover()`: PostgreSQL is stopped or crashed and the data directory is usable. */
export function decideNotRunning(ctx: Ctx): DecisionDraft {
  const { local, config } = ctx.input;
  if (ctx.paused) {
    if (ctx.iAmLeader) return { action: 'release-leader', reason: 'removed leader lock because postgres is not running' };
    return { action: 'no-action', reason: 'postgres is not running' };
  }
  if (!ctx.iAmLeader) return startAsSecondary(ctx, ctx.view.leader?.name ?? null);
  // Patroni's post_recover: a start in place that failed (a broken postgresql.auto.conf, a full disk)
  // fails the same way next time, so the key goes to a member that may do better.
  if (ctx.input.self.primaryStartFailed) {
    return { action: 'release-leader', demoted: true, reason: 'removed leader key after trying and failing to start postgres' };
  }
  // A standby leader starts as a standby of the remote (rewinding first if it left the remote's
  // timeline, as a primary turned standby leader by demote-cluster has); never in place as a primary.
  if (ctx.standby) {
    const start = startAsSecondary(ctx, ctx.standby.name, 'starting as a standby leader because i had the session lock');
    return start.action === 'start-as-replica' || start.action === 'rewind' ? { ...start, keepLease: true } : start;
  }

  if (config.primaryStartTimeoutMs === 0 && isFailoverPossible(ctx)) {
    ctx.info('Primary crashed. Failing over.');
    return { action: 'demote', mode: 'immediate', releaseLeader: true, leader: null, reason: 'stopped PostgreSQL to fail over after a crash' };
  }
  const ifLockLost: Decision = bare(startAsSecondary(ctx, null));
  // We were the primary moments ago and still hold the key: start in place, without a promotion,
  // so the timeline does not change and replicas keep streaming.
  if (local.role === 'crashed' && local.wasPrimary) {
    // Issue 17: the postmaster is dead and every restart in place has failed (an unusable data
    // directory, a broken configuration) since the first attempt, primary_start_timeout ago: give the
    // key up now (the demotion's stop finds nothing to stop; the fence confirms nothing runs before
    // the key is deleted) instead of retrying for ever while the cluster has no primary.
    const since = ctx.input.self.startingSinceMonoMs;
    if (since !== null && elapsedSinceMs(ctx, since) >= config.primaryStartTimeoutMs && isFailoverPossible(ctx)) {
      ctx.info(`Demoting self because PostgreSQL could not be restarted in place within primary_start_timeout (${config.primaryStartTimeoutMs / 1000} s)`);
      return { action: 'demote', mode: 'immediate', releaseLeader: true, leader: null, reason: 'released the leader key: the crashed primary could not be restarted in place within primary_start_timeout' };
    }
    return { action: 'restart-primary', reason: 'starting primary after failure', ifLockLost };
  }
  return { action: 'start-as-replica', leader: null, checkDivergence: false, reason: 'starting as readonly because i had the session lock' };
}
