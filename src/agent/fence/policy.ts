/**
 * What the fence changes in a cycle's decision — a pure function applied by the loop after
 * decide() (decide.ts stays about the cluster; this is about the local safety device):
 *
 * - No live fence (mode on, it died and could not be restarted): a primary must not go on without
 *   one, so a renewal of a running primary becomes an immediate demotion that releases the key;
 *   a promotion (or taking the key to promote, or restarting a crashed primary) does not happen.
 * - PostgreSQL was fenced (the fence killed it: the agent was frozen or dead past its lease) and we
 *   still hold the key: do not restart it in place as a primary when another member can take over
 *   — release the key and rejoin as a replica (pg_rewind / reinit as configured), as issue 9 asks.
 *   A member that froze past its lease is the suspect one. When nobody else can take over, the
 *   crashed primary restarts in place as before (the key is ours and just renewed).
 * - Paused (maintenance mode) and mode off: no change — the fence is disarmed and says so.
 */
import { Ctx, runsAsPrimary } from '../ha/context.js';
import { isFailoverPossible } from '../ha/failover-eligibility.js';
import type { DecideInput, Decision } from '../ha/types.js';

export interface FenceInput {
  mode: 'on' | 'off';
  /** The fence process answers (after a restart attempt this cycle). */
  live: boolean;
  /** A fence record is present: the fence killed this PostgreSQL and it has not run since. */
  wasFenced: boolean;
}

const notes = (decision: Decision, message: string, level: 'info' | 'warning' | 'error' = 'error') => [...decision.notes, { level, message }];

export function applyFencePolicy(decision: Decision, input: DecideInput, fence: FenceInput): Decision {
  if (fence.mode === 'off' || input.config.pause) return decision;
  if (!fence.live) {
    switch (decision.action) {
      case 'keep-failsafe':
        // No store: nothing to release, the key (if still ours) expires on its own.
        return {
          action: 'demote',
          mode: 'immediate',
          releaseLeader: false,
          leader: null,
          reason: 'demoted self because the fence process is not running and could not be restarted',
          notes: notes(decision, 'the fence process is not running: a primary must not run without it, failsafe mode or not'),
        };
      case 'renew':
        if (!runsAsPrimary(input.local)) return decision;
        return {
          action: 'demote',
          mode: 'immediate',
          releaseLeader: true,
          leader: null,
          reason: 'demoted self because the fence process is not running and could not be restarted',
          notes: notes(decision, 'the fence process is not running: a primary must not run without it'),
        };
      case 'promote':
      case 'restart-primary':
        return { action: 'no-action', reason: `not promoting self because the fence process is not running (${decision.action})`, notes: decision.notes };
      case 'acquire-and-promote':
        return { action: 'no-action', reason: 'not taking the leader key because the fence process is not running', notes: decision.notes };
      default:
        return decision;
    }
  }
  if (fence.wasFenced && decision.action === 'restart-primary' && input.view) {
    const ctx = new Ctx(input, input.view);
    if (isFailoverPossible(ctx)) {
      return {
        action: 'demote',
        mode: 'immediate',
        releaseLeader: true,
        leader: null,
        reason: 'released the leader key: PostgreSQL was fenced while this agent was not renewing; rejoining as a replica',
        notes: [...decision.notes, ...ctx.notes],
      };
    }
    return { ...decision, notes: notes({ ...decision, notes: [...decision.notes, ...ctx.notes] }, 'PostgreSQL was fenced, but no other member can take over: restarting it as primary', 'warning') };
  }
  return decision;
}
