/**
 * Being a replica: follow the leader (or a `replicatefrom` member), re-point when the leader
 * changed, and deal with a timeline that diverged from the new leader's (patroni-behaviour.md
 * 4.3 "someone else holds it" and 4.7).
 */
import { runsAsPrimary, type Ctx, type DecisionDraft } from './context.js';

/**
 * Patroni's `follow(demote_reason, follow_reason)`: a primary without the key stops being one at
 * once (without releasing a key that is not ours); a replica streams from `leader`.
 */
export function follow(ctx: Ctx, leader: string | null, demoteReason: string, followReason: string): DecisionDraft {
  const { local } = ctx;
  if (runsAsPrimary(local)) {
    if (ctx.paused) return { action: 'no-action', reason: 'continue to run as primary without lock' };
    if (local.role === 'starting') {
      return { action: 'stop', releaseLeader: false, reason: 'stopped PostgreSQL while starting up because leader key was lost' };
    }
    return { action: 'demote', mode: 'immediate', releaseLeader: false, leader, reason: demoteReason };
  }
  if (ctx.paused) return { action: 'no-action', reason: leader === null ? `no action. I am (${ctx.me})` : followReason };
  if (leader === null) return { action: 'follow', leader: null, repoint: false, checkDivergence: false, reason: followReason };

  const diverged = divergedDecision(ctx, leader);
  if (diverged) return diverged;
  const target = followTarget(ctx, leader);
  const repoint = local.receivingFrom !== target;
  if (repoint) ctx.info(`changing primary_conninfo to follow ${target}`);
  return { action: 'follow', leader: target, repoint, checkDivergence: needsDivergenceCheck(ctx, leader), reason: followReason };
}

/** The `replicatefrom` tag names a cascade source; it is used while that member is running, else the leader. */
export function followTarget(ctx: Ctx, leader: string): string {
  const source = ctx.input.config.tags.replicatefrom;
  if (typeof source !== 'string' || source === ctx.me || source === leader) return leader;
  const member = ctx.member(source);
  return member && member.state === 'running' ? source : leader;
}

/**
 * Whether the executor must compare timelines with `leader` before streaming from it: once per
 * leader, when our timeline differs from the one the leader publishes (or either is unknown).
 * Patroni triggers the same check after a demotion and whenever the leader changes.
 */
export function needsDivergenceCheck(ctx: Ctx, leader: string): boolean {
  const verdict = ctx.input.self.divergence;
  if (verdict && verdict.leader === leader) return false;
  const leaderTimeline = ctx.member(leader)?.timeline ?? null;
  return ctx.local.timeline === null || leaderTimeline === null || ctx.local.timeline !== leaderTimeline;
}

/**
 * A recorded divergence from `leader`: rewind when allowed and possible, else reinitialize when
 * configured to, else report and wait for an operator (`hactl reinit`). Never in pause.
 */
export function divergedDecision(ctx: Ctx, leader: string): DecisionDraft | null {
  const verdict = ctx.input.self.divergence;
  if (!verdict || verdict.leader !== leader || !verdict.diverged || ctx.paused) return null;
  const { config } = ctx.input;
  if (ctx.input.self.rewindFailed) {
    ctx.warn(`Failed to rewind from healthy primary: ${leader}`);
    if (config.removeDataDirectoryOnRewindFailure) {
      return { action: 'reinit', leader, reason: 'reinitializing after failed pg_rewind' };
    }
    return { action: 'reinit-needed', leader, reason: `timeline diverged from leader (${leader}) and pg_rewind failed; reinitialize needed` };
  }
  if (config.usePgRewind && ctx.local.rewindCapable) return { action: 'rewind', leader, reason: `running pg_rewind from ${leader}` };
  if (config.removeDataDirectoryOnDivergedTimelines) return { action: 'reinit', leader, reason: 'reinitializing due to diverged timelines' };
  const why = config.usePgRewind ? 'pg_rewind is not possible (needs wal_log_hints or data checksums)' : 'use_pg_rewind is off';
  return { action: 'reinit-needed', leader, reason: `timeline diverged from leader (${leader}) and ${why}; reinitialize needed` };
}
