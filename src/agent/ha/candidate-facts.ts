/**
 * What decide knows of one candidate for promotion, with Patroni's defaults: whether its tags
 * forbid promotion, its priority, its WAL position, and its REST answer this cycle. The rules
 * that compare candidates are in failover-eligibility.ts and sync-race.ts; they say why a member is
 * out as an `Exclusion`.
 */
import type { MemberTags } from '../../dcs/index.js';
import type { Ctx } from './context.js';
import type { LocalPostgresState, MemberHealth } from './types.js';

/** Why a member would not take the leader key; `code` is stable (REST, tests), `reason` is for people. */
export type ExclusionCode =
  | 'unreachable'
  | 'nofailover'
  | 'watchdog'
  | 'fence'
  | 'lag'
  | 'timeline'
  | 'sync'
  | 'paused'
  | 'not-running'
  | 'primary-alive'
  | 'behind'
  | 'priority'
  | 'backoff'
  | 'manual'
  | 'leader'
  /** failsafe_mode: not in a non-empty `failsafe` key (failsafe.ts). */
  | 'failsafe';

export interface Exclusion {
  code: ExclusionCode;
  reason: string;
}

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

/** This member's REST answer (`GET /patroni`) of this cycle, if it was asked and is known. */
export function healthOf(ctx: Ctx, name: string): MemberHealth | undefined {
  return ctx.input.memberHealth.find((h) => h.name === name);
}
