/**
 * Who may become primary: the checks behind Patroni's `_is_healthiest_node` and
 * `is_failover_possible` (docs/patroni-behaviour.md 4.2, 4.4), over the REST answers the loop collected.
 * A member that did not answer is ignored, never assumed healthy or ahead.
 *
 * Every check returns an `Exclusion` (a code and a sentence naming the numbers) besides logging
 * Patroni's line, so the leader race, the switchover checks and the failover explanation
 * (race-explanation.ts) all say why from the same code.
 */
import type { ClusterView, FailoverRequest, Member } from '../../dcs/index.js';
import type { Ctx } from './context.js';
import { failoverPriority, healthOf, isNoFailover, walPosition, type Exclusion } from './candidate-facts.js';
import type { MemberHealth } from './types.js';
import { activeSyncState, syncAllowsCandidate, syncListed } from './sync-race.js';

/** Patroni's `Cluster.timeline`: one past the last switch in `history`, 1 for `[]`, 0 when unknown. */
export function clusterTimeline(view: ClusterView): number {
  if (!view.history) return 0;
  const last = view.history.lines[view.history.lines.length - 1];
  return last ? last.timeline + 1 : 1;
}

/** 'switchover' when the request names the leader to leave, else 'manual failover' (Patroni's wording). */
export function failoverActionName(failover: FailoverRequest | null): 'switchover' | 'manual failover' {
  return failover?.leader ? 'switchover' : 'manual failover';
}

/**
 * What disqualifies a member whatever its position: no answer, tags, a required watchdog that
 * fails, a fence that is not running (such a member refuses the key: fence/policy.ts). The reason
 * reads after `Member X is` (Patroni's wording for the first three).
 */
export function limitationOf(health: MemberHealth | undefined): Exclusion | null {
  if (!health || !health.reachable) return { code: 'unreachable', reason: 'not reachable' };
  if (health.nofailover) return { code: 'nofailover', reason: 'not allowed to promote' };
  if (health.watchdogFailed) return { code: 'watchdog', reason: 'not watchdog capable' };
  if (health.fenceVeto) return { code: 'fence', reason: `vetoed by its fence: ${health.fenceVeto}` };
  return null;
}

/** Why a member cannot take over, in Patroni's words (`Member X is <reason>`), or null. */
export function failoverLimitation(health: MemberHealth | undefined): string | null {
  return limitationOf(health)?.reason ?? null;
}

/**
 * The primary position lag is measured against: the `status` key (written by the leader each
 * cycle, so up to loop_wait old), when this node is the running primary its own position, and
 * what a primary running without the store last reported in POST /failsafe (failsafe-state.ts).
 */
export function referenceLsn(ctx: Ctx): bigint {
  const candidates = [ctx.view.status.lastLsn ?? 0n, ctx.local.role === 'primary' ? (ctx.local.writeLsn ?? 0n) : 0n, ctx.input.failsafe?.leaderLsn ?? 0n];
  return candidates.reduce((a, b) => (b > a ? b : a));
}

/** Bytes `walLsn` is behind the reference position (never negative). */
export function lagBytes(ctx: Ctx, walLsn: bigint): bigint {
  const lag = referenceLsn(ctx) - walLsn;
  return lag > 0n ? lag : 0n;
}

export function isLagging(ctx: Ctx, walLsn: bigint): boolean {
  return referenceLsn(ctx) - walLsn > ctx.input.config.maximumLagOnFailoverBytes;
}

function lagExclusion(ctx: Ctx, walLsn: bigint): Exclusion | null {
  if (!isLagging(ctx, walLsn)) return null;
  const max = ctx.input.config.maximumLagOnFailoverBytes;
  return {
    code: 'lag',
    reason: `lag ${lagBytes(ctx, walLsn)} bytes exceeds maximum_lag_on_failover ${max}`,
  };
}

/** Members other than me that may be asked: with a REST address and not tagged nofailover in the DCS. */
function askable(ctx: Ctx, members: readonly Member[]): Member[] {
  return members.filter((m) => m.name !== ctx.me && !isNoFailover(m.tags) && m.apiUrl !== null);
}

/**
 * Patroni's `_is_healthiest_node`: I am among the best candidates if I am not too far behind the
 * last known primary position, and no reachable eligible member is a running primary, is ahead of
 * me, or is level with me at a higher failover_priority. Null = I am; else why not.
 */
export function healthiestExclusion(ctx: Ctx, members: readonly Member[], checkReplicationLag: boolean): Exclusion | null {
  const { local, config } = ctx.input;
  const mine = walPosition(local);
  if (checkReplicationLag) {
    const lag = lagExclusion(ctx, mine);
    if (lag) {
      ctx.info('My wal position exceeds maximum replication lag');
      return lag;
    }
  }
  if (config.checkTimeline) {
    const clusterTl = clusterTimeline(ctx.view);
    if (local.timeline === null) {
      ctx.info('Can not figure out my timeline');
      return { code: 'timeline', reason: 'timeline unknown (check_timeline is on)' };
    }
    if (local.timeline < clusterTl) {
      ctx.info(`My timeline ${local.timeline} is behind last known cluster timeline ${clusterTl}`);
      return { code: 'timeline', reason: `timeline ${local.timeline} is behind the cluster timeline ${clusterTl}` };
    }
  }
  const myPriority = failoverPriority(config.tags);
  for (const member of askable(ctx, members)) {
    const health = healthOf(ctx, member.name);
    if (limitationOf(health) !== null || !health) continue;
    if (health.role === 'primary') {
      ctx.warn(`Primary (${member.name}) is still alive`);
      return { code: 'primary-alive', reason: `${member.name} is still running as a primary` };
    }
    // In synchronous mode only listed members may promote; an async member ahead of me holds no
    // acknowledged commit I lack, and deferring to it would leave nobody able to take over.
    const sync = activeSyncState(ctx);
    if (sync !== null && !syncListed(sync, member.name)) continue;
    const theirs = health.walLsn ?? 0n;
    if (mine < theirs) {
      ctx.info(`Wal position of ${member.name} is ahead of my wal position`);
      return { code: 'behind', reason: `${member.name} is ${theirs - mine} bytes ahead` };
    }
    if (mine === theirs && myPriority < health.failoverPriority) {
      ctx.info(
        `${member.name} has equally tolerable WAL position and priority ${health.failoverPriority}, while this node has priority ${myPriority}`,
      );
      return {
        code: 'priority',
        reason: `${member.name} has the same WAL position and a higher failover_priority: ${health.failoverPriority} > ${myPriority}`,
      };
    }
  }
  return null;
}

/** One member considered by `handoverVerdicts`: null exclusion = it can take over. */
export interface CandidateVerdict {
  name: string;
  exclusion: Exclusion | null;
}

/**
 * Patroni's `is_failover_possible`, member by member: every other member (the requested candidate,
 * if any) and why it could not take over — unreachable, not allowed to promote, lagging, or (with
 * check_timeline) behind the cluster timeline; in synchronous mode a switchover's candidates are
 * the listed standbys only. Logs Patroni's line for each one that cannot.
 */
export function handoverVerdicts(ctx: Ctx, options: { excludeCandidate?: boolean } = {}): CandidateVerdict[] {
  const failover = ctx.view.failover;
  const candidate = failover?.candidate ?? null;
  const verdicts: CandidateVerdict[] = [];
  const clusterTl = clusterTimeline(ctx.view);
  for (const member of askable(ctx, ctx.view.members)) {
    if (options.excludeCandidate ? member.name === candidate : candidate !== null && member.name !== candidate) continue;
    if (!syncAllowsCandidate(ctx, member.name)) {
      verdicts.push({ name: member.name, exclusion: { code: 'sync', reason: 'not a synchronous standby (a switchover in synchronous mode goes to a listed one)' } });
      continue;
    }
    const health = healthOf(ctx, member.name);
    const limitation = limitationOf(health);
    let exclusion: Exclusion | null = null;
    if (limitation !== null || !health) {
      ctx.info(`Member ${member.name} is ${limitation?.reason}`);
      exclusion = limitation;
    } else if (isLagging(ctx, health.walLsn ?? 0n)) {
      ctx.info(`Member ${member.name} exceeds maximum replication lag`);
      exclusion = lagExclusion(ctx, health.walLsn ?? 0n);
    } else if (ctx.input.config.checkTimeline && (!health.timeline || health.timeline < clusterTl)) {
      ctx.info(`Timeline ${health.timeline} of member ${member.name} is behind the cluster timeline ${clusterTl}`);
      exclusion = { code: 'timeline', reason: `timeline ${health.timeline ?? 'unknown'} is behind the cluster timeline ${clusterTl}` };
    }
    verdicts.push({ name: member.name, exclusion });
  }
  return verdicts;
}

/**
 * Patroni's `is_failover_possible`: some other member (the requested candidate, if any) is
 * reachable, allowed to promote, not lagging and (with check_timeline) on the cluster timeline.
 */
export function isFailoverPossible(ctx: Ctx, options: { excludeCandidate?: boolean } = {}): boolean {
  const verdicts = handoverVerdicts(ctx, options);
  if (verdicts.every((v) => v.exclusion?.code === 'sync')) {
    const failover = ctx.view.failover;
    ctx.warn(`${failover ? failoverActionName(failover) : 'failover'}: candidates list is empty`);
    return false;
  }
  return verdicts.some((v) => v.exclusion === null);
}
