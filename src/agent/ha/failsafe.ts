/**
 * Failsafe mode's rules (Patroni 3.0's `failsafe_mode`; docs/patroni-behaviour.md 4.8): pure
 * functions of decide's input. The loop makes the POST /failsafe round (failsafe-round.ts) and keeps
 * what replicas were told (failsafe-state.ts).
 *
 * Safety argument. Without the store nobody can take the leader key, so a primary that keeps running
 * is the only primary, until the store comes back. Then the danger is a replica that races for the
 * expired key while the old primary still runs. Failsafe mode rules that out with a promise:
 *
 * - A member that accepts a primary's POST /failsafe will not race for the leader key for ttl after it
 *   accepted (it follows that primary, `failsafeLeader`). It refuses when it runs as a primary, holds
 *   or is taking the key itself, or knows another member as the leader (failsafe-state.ts).
 * - The primary keeps running only if EVERY member of the last known `failsafe` key accepted this
 *   cycle's round, and only until `sent + ttl·(1 − ρ)` (the lease rule of src/dcs/lease.ts, counted
 *   from before any member could have accepted): the fence is armed to that deadline, so a frozen
 *   agent's PostgreSQL is killed before any promise it was given runs out.
 * - A member that is not in the `failsafe` key never races (it may not have been asked): a member
 *   added or started while the store was down cannot promote behind the primary's back.
 * - One member that does not answer or refuses: the primary falls back to the lease rule
 *   (lease-loss.ts), which demotes it before its last lease can run out.
 *
 * A primary that is cut off from the store only (the others still read it) is kept alive the same
 * way: its replicas see the leader key expire but follow the member that pinged them.
 *
 * Slots (Patroni's `_sync_replication_slots`): each POST /failsafe carries the primary's slot positions,
 * and a replica that accepted it keeps advancing its copies of the permanent slots to them while the
 * store is away (replicaSlotSource), so a logical consumer that goes on reading on the primary during an
 * outage does not make the replicas' copies fall behind. A position only ever comes from the member the
 * replica promised to follow and is what that primary's consumer confirmed: advancing to it never skips
 * a change the consumer has not confirmed.
 */
import type { ClusterView, LeaderLock, Member } from '../../dcs/index.js';
// The pure lease rule only (as the fence does): decide must not load the stores.
import { leaseDeadlineMonoMs } from '../../dcs/lease.js';
import type { Exclusion } from './candidate-facts.js';
import type { Ctx } from './context.js';
import type { DecideInput, Decision, FailsafeRound, Note } from './types.js';

export const FAILSAFE_KEEP_REASON = 'continue to run as a leader because failsafe mode is enabled and all members are accessible';

/** Whether the loop must make a POST /failsafe round before deciding this cycle. */
export function needsFailsafeRound(input: DecideInput): boolean {
  const { config, local } = input;
  return !input.dcsOk && config.failsafeMode === true && !config.pause && !config.standbyCluster && local.role === 'primary';
}

/** Until when a round sent at `sentAtMonoMs` lets the primary run (the members' promise, shortened by the drift bound). */
export function failsafeDeadlineMonoMs(sentAtMonoMs: number, ttlMs: number): number {
  return leaseDeadlineMonoMs(sentAtMonoMs, ttlMs);
}

/** Why a round does not let the primary go on, or null when it does. */
function roundFailure(input: DecideInput, round: FailsafeRound): string | null {
  if (round.refused !== null) return round.refused;
  const refusals = round.answers.filter((a) => !a.accepted);
  if (refusals.length > 0) return `not every member accepted POST /failsafe: ${refusals.map((a) => `${a.name} (${a.detail})`).join(', ')}`;
  // A round that took most of the promise (a stalled loop) leaves no time to demote before it ends.
  if (input.monoNowMs + input.config.demoteTimeMs >= failsafeDeadlineMonoMs(round.sentAtMonoMs, input.config.ttlMs)) {
    return 'the POST /failsafe round took too long to rely on';
  }
  return null;
}

/**
 * The running primary without the store: keep it on failsafe mode's word, or null (with the reason
 * in `notes`) so the lease rule decides.
 */
export function decideFailsafePrimary(input: DecideInput, notes: Note[]): Decision | null {
  const round = input.failsafe?.round ?? null;
  if (!needsFailsafeRound(input) || round === null) return null;
  const failure = roundFailure(input, round);
  if (failure !== null) {
    notes.push({ level: 'warning', message: `failsafe: ${failure}` });
    return null;
  }
  return { action: 'keep-failsafe', untilMonoMs: failsafeDeadlineMonoMs(round.sentAtMonoMs, input.config.ttlMs), reason: FAILSAFE_KEEP_REASON, notes };
}

/**
 * A member that accepted a primary's POST /failsafe less than ttl ago, reading a store where nobody
 * holds the leader key: that primary is alive and still the leader (Patroni injects it into the
 * cluster view). Null when there is no such primary or failsafe mode is off.
 */
export function failsafeLeader(ctx: Ctx): string | null {
  const pinged = ctx.input.failsafe?.pingedBy ?? null;
  if (!ctx.input.config.failsafeMode || pinged === null || pinged === ctx.me || ctx.view.leader !== null) return null;
  return pinged;
}

/**
 * Patroni: with failsafe mode on and a non-empty `failsafe` key, a member missing from it may not race
 * (the primary did not ask it, so it promised nothing).
 */
export function failsafeExclusion(ctx: Ctx): Exclusion | null {
  const topology = ctx.view.failsafe;
  if (!ctx.input.config.failsafeMode || !topology || Object.keys(topology).length === 0) return null;
  if (Object.hasOwn(topology, ctx.me)) return null;
  ctx.info(`failsafe: not racing for the leader key, ${ctx.me} is not in the failsafe key`);
  return { code: 'failsafe', reason: `${ctx.me} is not in the failsafe key (failsafe_mode)` };
}

/**
 * The members a race compares with: the cluster's, plus those only the `failsafe` key still names (a
 * primary that ran without the store could not refresh its member key; Patroni asks them too).
 */
export function raceMembers(view: ClusterView, failsafeMode: boolean): Member[] {
  const topology = failsafeMode ? view.failsafe : null;
  if (!topology) return view.members;
  const known = new Set(view.members.map((m) => m.name));
  const extra = Object.entries(topology)
    .filter(([name]) => !known.has(name))
    .map(([name, apiUrl]): Member => ({
      name,
      keyVersion: 0,
      role: 'uninitialized',
      state: 'unknown',
      apiUrl,
      connUrl: null,
      version: null,
      timeline: null,
      xlogLocation: null,
      receivedLsn: null,
      replayedLsn: null,
      replicationState: null,
      tags: {},
      pendingRestart: false,
    }));
  return [...view.members, ...extra];
}

/**
 * The topology the leader publishes: every member with a REST address, and itself (Patroni's
 * `_failsafe_config`). Null when it equals what the store holds (no write needed).
 */
export function failsafeTopologyToWrite(view: ClusterView, me: string, myApiUrl: string): Record<string, string> | null {
  const topology: Record<string, string> = {};
  for (const m of view.members) if (m.apiUrl) topology[m.name] = m.apiUrl;
  topology[me] ??= myApiUrl;
  const stored = view.failsafe ?? null;
  const same = stored !== null && Object.keys(stored).length === Object.keys(topology).length && Object.entries(topology).every(([k, v]) => stored[k] === v);
  return same ? null : topology;
}

/** How a steady replica keeps its slots this cycle (replicaSlotSource). */
export interface ReplicaSlotSource {
  /** The view the wanted slots and their positions come from. */
  view: ClusterView;
  /** Whether missing logical slots may be copied from the leader (that restarts the replica). */
  copy: boolean;
}

/**
 * Patroni's `_sync_replication_slots` for a replica, pure. With the store read this cycle: its view,
 * except that with failsafe_mode on a primary's POST /failsafe accepted less than ttl ago brings its
 * leader and slot positions (Patroni's `Failsafe.update_cluster`; the primary may be cut off from the
 * store only). Without the store: nothing with failsafe_mode off (Patroni does not touch slots then); with
 * it on, the last good view, with the pinging primary's positions when there are some. Logical slots
 * are not copied while failsafe is active here, nor without the store: the copy restarts the replica,
 * and its source is the leader as the store last said.
 */
export function replicaSlotSource(input: DecideInput, view: ClusterView | null): ReplicaSlotSource | null {
  if (view === null) return null;
  const failsafeMode = input.config.failsafeMode === true;
  if (!input.dcsOk && !failsafeMode) return null;
  const pinged = failsafeMode ? (input.failsafe?.pingedBy ?? null) : null;
  if (pinged === null) return { view, copy: input.dcsOk };
  // A store that names another leader wins over a ping (Patroni would take the ping's): positions of
  // a primary that has been replaced may lie past the new leader's fork.
  if (view.leader !== null && view.leader.name !== pinged) return { view, copy: false };
  const slots = input.failsafe?.leaderSlots ?? null;
  const leader: LeaderLock = view.leader ?? { name: pinged, keyVersion: 0, expiresInMs: null };
  // A ping without positions (a primary that could not read them) leaves the view's: older, never ahead.
  const status = slots === null ? view.status : { ...view.status, slots };
  return { view: { ...view, leader, status }, copy: false };
}
