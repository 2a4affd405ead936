/**
 * Being a replica: follow the leader (or a `replicatefrom` member), re-point when the leader
 * changed, and deal with a timeline that diverged from the new leader's (docs/patroni-behaviour.md
 * 4.3 "someone else holds it" and 4.7).
 */
import { runsAsPrimary, type Ctx, type DecisionDraft } from './context.js';
import type { FollowStep } from './types.js';

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
  // In pause nothing is started, rewound or reinitialized, but a running replica still streams from the
  // leader of the day (Patroni's follow() changes primary_conninfo in pause too: after a switchover in
  // pause the old primary follows the new one); a diverged one stays as it is (divergedDecision).
  if (ctx.paused && (leader === null || local.role !== 'replica')) return { action: 'no-action', reason: leader === null ? `no action. I am (${ctx.me})` : followReason };
  if (leader === null) return { action: 'follow', leader: null, repoint: false, checkDivergence: false, reason: followReason };

  const step = followStep(ctx, leader, followTarget(ctx, leader));
  if ('action' in step) return step;
  return { action: 'follow', ...step, reason: followReason };
}

/**
 * Streaming from `target` (the leader, a cascade source, or a standby cluster's remote) once the
 * data is known not to have diverged from `leader`; the diverged decision instead when it has.
 */
export function followStep(ctx: Ctx, leader: string, target: string): FollowStep | DecisionDraft {
  const diverged = divergedDecision(ctx, leader);
  if (diverged) return diverged;
  const repoint = ctx.local.receivingFrom !== target;
  if (repoint) ctx.info(`changing primary_conninfo to follow ${target}`);
  return { leader: target, repoint, checkDivergence: needsDivergenceCheck(ctx, leader) };
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
 * leader, when our timeline differs from the one the leader publishes (or either is unknown), and
 * again every cycle while our timeline stays behind the leader's. Patroni triggers the same check
 * after a demotion, whenever the leader changes, and while its last timeline is below the leader's:
 * a standby that cannot switch to the leader's timeline (it has WAL past the fork) stays behind,
 * streaming nothing, and a verdict taken before that WAL arrived must not keep it there.
 */
export function needsDivergenceCheck(ctx: Ctx, leader: string): boolean {
  const verdict = ctx.input.self.divergence;
  const leaderTimeline = ctx.member(leader)?.timeline ?? null;
  const behind = ctx.local.timeline !== null && leaderTimeline !== null && ctx.local.timeline < leaderTimeline;
  if (verdict && verdict.leader === leader && !behind) return false;
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
  if (config.usePgRewind && ctx.local.rewindCapable) {
    // In a standby cluster every member's data follows the remote's timeline: a member diverged from
    // the standby leader (a standby itself) rewinds from the remote primary, then follows the standby leader.
    const remote = ctx.standby;
    if (remote && remote.host !== null && leader !== remote.name) {
      return { action: 'rewind', leader, source: remote.name, reason: `running pg_rewind from ${remote.name}` };
    }
    return { action: 'rewind', leader, reason: `running pg_rewind from ${leader}` };
  }
  if (config.removeDataDirectoryOnDivergedTimelines) return { action: 'reinit', leader, reason: 'reinitializing due to diverged timelines' };
  const why = config.usePgRewind ? 'pg_rewind is not possible (needs wal_log_hints or data checksums)' : 'use_pg_rewind is off';
  return { action: 'reinit-needed', leader, reason: `timeline diverged from leader (${leader}) and ${why}; reinitialize needed` };
}
