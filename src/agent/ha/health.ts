/**
 * Who may become primary: the checks behind Patroni's `_is_healthiest_node` and
 * `is_failover_possible` (patroni-behaviour.md 4.2, 4.4), over the REST answers the loop collected.
 * A member that did not answer is ignored, never assumed healthy or ahead.
 */
import type { ClusterView, FailoverRequest, Member, MemberTags } from '../../dcs/index.js';
import type { Ctx } from './context.js';
import type { LocalPostgresState, MemberHealth } from './types.js';
import { activeSyncState, syncAllowsCandidate, syncListed } from './sync-race.js';

/** Patroni: `nofailover: true` or `failover_priority <= 0` both forbid promotion. */
export function isNoFailover(tags: MemberTags): boolean {
  return tags.nofailover === true || (typeof tags.failover_priority === 'number' && tags.failover_priority <= 0);
}

/** Default priority 1 (Patroni); 0 for nofailover members. */
export function failoverPriority(tags: MemberTags): number {
  if (isNoFailover(tags)) return 0;
  return typeof tags.failover_priority === 'number' ? tags.failover_priority : 1;
}

/** The position a node would promote with: what it wrote (primary) or the furthest of received/replayed. */
export function walPosition(local: LocalPostgresState): bigint {
  if (local.role === 'primary') return local.writeLsn ?? 0n;
  const received = local.receivedLsn ?? 0n;
  const replayed = local.replayedLsn ?? 0n;
  return received > replayed ? received : replayed;
}

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

/** Why a member cannot take over, in Patroni's words (`Member X is <reason>`), or null. */
export function failoverLimitation(health: MemberHealth | undefined): string | null {
  if (!health || !health.reachable) return 'not reachable';
  if (health.nofailover) return 'not allowed to promote';
  if (health.watchdogFailed) return 'not watchdog capable';
  return null;
}

export function healthOf(ctx: Ctx, name: string): MemberHealth | undefined {
  return ctx.input.memberHealth.find((h) => h.name === name);
}

/**
 * The primary position lag is measured against: the `status` key (written by the leader each
 * cycle, so up to loop_wait old) or, when this node is the running primary, its own position.
 */
export function referenceLsn(ctx: Ctx): bigint {
  const published = ctx.view.status.lastLsn ?? 0n;
  const own = ctx.local.role === 'primary' ? (ctx.local.writeLsn ?? 0n) : 0n;
  return own > published ? own : published;
}

export function isLagging(ctx: Ctx, walLsn: bigint): boolean {
  return referenceLsn(ctx) - walLsn > ctx.input.config.maximumLagOnFailoverBytes;
}

/** Members other than me that may be asked: with a REST address and not tagged nofailover in the DCS. */
function askable(ctx: Ctx, members: readonly Member[]): Member[] {
  return members.filter((m) => m.name !== ctx.me && !isNoFailover(m.tags) && m.apiUrl !== null);
}

/**
 * Patroni's `_is_healthiest_node`: I am among the best candidates if I am not too far behind the
 * last known primary position, and no reachable eligible member is a running primary, is ahead of
 * me, or is level with me at a higher failover_priority.
 */
export function isHealthiestAmong(ctx: Ctx, members: readonly Member[], checkReplicationLag: boolean): boolean {
  const { local, config } = ctx.input;
  const mine = walPosition(local);
  if (checkReplicationLag && isLagging(ctx, mine)) {
    ctx.info('My wal position exceeds maximum replication lag');
    return false;
  }
  if (config.checkTimeline) {
    const clusterTl = clusterTimeline(ctx.view);
    if (local.timeline === null) {
      ctx.info('Can not figure out my timeline');
      return false;
    }
    if (local.timeline < clusterTl) {
      ctx.info(`My timeline ${local.timeline} is behind last known cluster timeline ${clusterTl}`);
      return false;
    }
  }
  const myPriority = failoverPriority(config.tags);
  for (const member of askable(ctx, members)) {
    const health = healthOf(ctx, member.name);
    if (failoverLimitation(health) !== null || !health) continue;
    if (health.role === 'primary') {
      ctx.warn(`Primary (${member.name}) is still alive`);
      return false;
    }
    // In synchronous mode only listed members may promote; an async member ahead of me holds no
    // acknowledged commit I lack, and deferring to it would leave nobody able to take over.
    const sync = activeSyncState(ctx);
    if (sync !== null && !syncListed(sync, member.name)) continue;
    const theirs = health.walLsn ?? 0n;
    if (mine < theirs) {
      ctx.info(`Wal position of ${member.name} is ahead of my wal position`);
      return false;
    }
    if (mine === theirs && myPriority < health.failoverPriority) {
      ctx.info(
        `${member.name} has equally tolerable WAL position and priority ${health.failoverPriority}, while this node has priority ${myPriority}`,
      );
      return false;
    }
  }
  return true;
}

/**
 * Patroni's `is_failover_possible`: some other member (the requested candidate, if any) is
 * reachable, allowed to promote, not lagging and (with check_timeline) on the cluster timeline.
 */
export function isFailoverPossible(ctx: Ctx, options: { excludeCandidate?: boolean } = {}): boolean {
  const failover = ctx.view.failover;
  const candidate = failover?.candidate ?? null;
  const candidates = askable(ctx, ctx.view.members).filter(
    (m) => (options.excludeCandidate ? m.name !== candidate : candidate === null || m.name === candidate) && syncAllowsCandidate(ctx, m.name),
  );
  if (candidates.length === 0) {
    ctx.warn(`${failover ? failoverActionName(failover) : 'failover'}: candidates list is empty`);
    return false;
  }
  const clusterTl = clusterTimeline(ctx.view);
  let possible = false;
  for (const member of candidates) {
    const health = healthOf(ctx, member.name);
    const limitation = failoverLimitation(health);
    if (limitation !== null || !health) {
      ctx.info(`Member ${member.name} is ${limitation}`);
    } else if (isLagging(ctx, health.walLsn ?? 0n)) {
      ctx.info(`Member ${member.name} exceeds maximum replication lag`);
    } else if (ctx.input.config.checkTimeline && (!health.timeline || health.timeline < clusterTl)) {
      ctx.info(`Timeline ${health.timeline} of member ${member.name} is behind the cluster timeline ${clusterTl}`);
    } else {
      possible = true;
    }
  }
  return possible;
}
