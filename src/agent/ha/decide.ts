/**
 * The HA decision: one pure function from what the loop observed this cycle to what it should do
 * and the line it logs (DESIGN.md "The HA loop — the safety argument"; docs/patroni-behaviour.md 4).
 * The branches follow Patroni's `_run_cycle` order, so a reader of ha.py finds the same cases.
 *
 * Contract with the executor (loop.ts):
 * - Actions whose first step writes the leader key (`renew`, `promote`, `restart-primary`,
 *   `hand-over`: renew; `acquire-and-promote`: create-if-absent; `bootstrap`: create `initialize`)
 *   carry `ifLockLost`, executed instead when that write returns false.
 * - When any DCS call of the cycle throws DcsUnavailable, the loop calls `decide` again with
 *   `dcsOk: false` (the lease rule in lease-loss.ts takes over).
 * - `clearFailover` / `writeInitialize` are done before the action.
 * - The loop collects `memberHealth` (GET /patroni of the other members, in parallel, 2 s timeout,
 *   no retries) when `needsMemberHealth` says so, before calling `decide`.
 */
import { bare, Ctx, type DecisionDraft } from './context.js';
import { decideEmptyDataDir } from './bootstrap.js';
import { failsafeLeader } from './failsafe.js';
import { follow } from './follow.js';
import { decideAsLeader } from './leader.js';
import { decideLeaderRace } from './leader-race.js';
import { primaryRaceBackoff } from './primary-race-backoff.js';
import { decideWithoutDcs } from './lease-loss.js';
import { decideAsStandbyLeader } from './standby-leader.js';
import { decideDuringLongAction, decideNotRunning, decideStarting } from './recover.js';
import type { DecideInput, Decision } from './types.js';

const INVALID_SYSID = 'data dir for the cluster is not empty, but system ID is invalid; consider doing reinitialize';

export function decide(input: DecideInput): Decision {
  const decision = input.dcsOk && input.view !== null ? decideWithView(new Ctx(input, input.view)) : decideWithoutDcs(input);
  // Patroni prefixes every status line of a paused cluster, so the log shows nothing was enforced.
  return input.config.pause ? withPausePrefix(decision) : decision;
}

/** Whether the loop must ask the other members' REST APIs before deciding (a race or a handover is possible). */
export function needsMemberHealth(input: DecideInput): boolean {
  const { view, config, local, self } = input;
  if (!input.dcsOk || view === null) return false;
  // The requested candidate races without asking anyone (Patroni's manual_failover_process_no_leader
  // returns at once): the round trip would only delay the switchover.
  if (view.leader === null) {
    // Postponed by primary_race_backoff: no race this cycle, so nobody to ask (a frozen primary's REST would cost the timeout).
    if (primaryRaceBackoff(input)?.postpone) return false;
    return !(view.failover?.candidate === config.name && local.role === 'replica');
  }
  if (view.leader.name !== config.name) return false;
  // A standby leader is never a primary: that alone is no reason to ask (it is its normal state).
  const notPrimary = local.role !== 'primary' && !config.standbyCluster;
  return view.failover !== null || notPrimary || self.longAction !== null;
}

function decideWithView(ctx: Ctx): Decision {
  let writeInitialize: string | undefined;
  // Patroni resets primary_race_backoff's countdown whenever the store shows a leader (load_cluster_from_dcs).
  if (ctx.view.leader !== null) resetRaceBackoff(ctx);
  const draft = ((): DecisionDraft => {
    const { local, self } = ctx.input;
    if (self.longAction) return decideDuringLongAction(ctx);
    if (local.role === 'starting') {
      const starting = decideStarting(ctx);
      if (starting) return starting;
      if (!local.wasPrimary) ctx.info('Still starting up as a standby.');
    }
    if (local.dataDir === 'empty') return decideEmptyDataDir(ctx);
    if (local.dataDir === 'invalid') {
      return ctx.iAmLeader && !ctx.paused
        ? { action: 'release-leader', reason: 'released leader key voluntarily as data dir not accessible and currently leader' }
        : { action: 'no-action', reason: INVALID_SYSID };
    }
    if (ctx.view.initialize === null) {
      // Existing data and no `initialize`: a replica of who knows what must not go on; a primary's
      // data becomes the cluster's (Patroni adopts it the same way).
      if (local.role === 'replica') {
        return { action: 'fatal', reason: 'No initialize key in DCS and PostgreSQL is running as replica, aborting start' };
      }
      if (local.systemIdentifier !== null) writeInitialize = local.systemIdentifier;
    } else if (ctx.view.initialize !== '' && local.systemIdentifier !== null && ctx.view.initialize !== local.systemIdentifier) {
      return { action: 'no-action', reason: INVALID_SYSID };
    }
    if (local.role === 'stopped' || local.role === 'crashed') return decideNotRunning(ctx);
    const leader = ctx.view.leader?.name ?? null;
    if (leader === null) {
      // A primary that runs on failsafe mode's word pinged us less than ttl ago: it is alive, no race.
      const alive = failsafeLeader(ctx);
      if (alive === null) return decideLeaderRace(ctx);
      // Patroni's failsafe injects the pinging primary as the leader, which resets the countdown too.
      resetRaceBackoff(ctx);
      ctx.info(`failsafe: the leader key is free, but ${alive} asked POST /failsafe less than ttl ago: following it, not racing`);
      return follow(ctx, null, 'demoting self because failsafe mode reports another primary alive', `no action. I am (${ctx.me}), a secondary, and following a leader (${alive})`);
    }
    const remote = ctx.standby;
    if (leader === ctx.me) return remote ? decideAsStandbyLeader(ctx, remote) : decideAsLeader(ctx);
    if (remote) {
      return follow(ctx, leader, 'cannot be a real primary in a standby cluster', `no action. I am (${ctx.me}), a secondary, and following a standby leader (${leader})`);
    }
    return follow(
      ctx,
      leader,
      'demoting self because I do not have the lock and I was a leader',
      `no action. I am (${ctx.me}), a secondary, and following a leader (${leader})`,
    );
  })();
  const decision = { ...bare(draft), notes: ctx.notes };
  if (ctx.clearFailover !== undefined) decision.clearFailover = ctx.clearFailover;
  if (writeInitialize !== undefined) decision.writeInitialize = writeInitialize;
  if (ctx.raceBackoffSinceMonoMs !== undefined) decision.primaryRaceBackoffSinceMonoMs = ctx.raceBackoffSinceMonoMs;
  return decision;
}

function resetRaceBackoff(ctx: Ctx): void {
  if (ctx.input.self.primaryRaceBackoffSinceMonoMs != null) ctx.raceBackoffSinceMonoMs = null;
}

function withPausePrefix(decision: Decision): Decision {
  const prefixed = { ...decision, reason: `PAUSE: ${decision.reason}` };
  if ('ifLockLost' in prefixed) prefixed.ifLockLost = withPausePrefix(prefixed.ifLockLost);
  return prefixed;
}
