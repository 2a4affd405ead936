/**
 * Decisions of a standby cluster's members (standby-cluster.ts; Patroni's ha.py paths through
 * `is_standby_cluster`). The invariant: no member of a standby cluster runs writable. A primary
 * found in one stops being one (the key holder keeps its key and becomes the standby leader:
 * Patroni 4.1's `demote-cluster`); the key holder streams from the remote; the race winner takes
 * the key without promoting (leader-race.ts).
 */
import { runsAsPrimary, type Ctx, type DecisionDraft } from './context.js';
import { followStep } from './follow.js';
import { lockLostDecision } from './leader.js';
import type { StandbyCluster } from './standby-cluster.js';
import { handOverFromLeader } from './switchover.js';

const NOT_A_PRIMARY = 'cannot be a real primary in standby cluster';

/** A primary (or one starting as a primary) in a standby cluster: stop it, keeping the key when we hold it. */
export function demoteToStandby(ctx: Ctx, remote: StandbyCluster): DecisionDraft | null {
  if (!runsAsPrimary(ctx.local) || ctx.paused) return null;
  if (ctx.local.role === 'starting') return { action: 'stop', releaseLeader: false, reason: `stopped PostgreSQL starting up as a primary: ${NOT_A_PRIMARY}` };
  // Patroni's demote-cluster stops with 'fast' and no handover wait; ours checkpoints first (graceful), so the
  // shutdown checkpoint is what the former primary's data ends with, and a later rewind has the least to do.
  const keep = ctx.iAmLeader;
  const leader = keep || ctx.view.leader === null ? remote.name : ctx.view.leader.name;
  return { action: 'demote', mode: 'graceful', releaseLeader: false, keepLeader: keep, leader, reason: NOT_A_PRIMARY };
}

/** Patroni's process_healthy_cluster for the standby leader: renew, then stream from the remote. */
export function decideAsStandbyLeader(ctx: Ctx, remote: StandbyCluster): DecisionDraft {
  const demote = demoteToStandby(ctx, remote);
  if (demote) return demote;
  const ifLockLost = lockLostDecision(ctx);
  const handOver = handOverFromLeader(ctx, ifLockLost);
  if (handOver) return handOver;
  const following = ctx.local.receivingFrom === remote.name;
  const reason = following
    ? `no action. I am (${ctx.me}), the standby leader with the lock`
    : 'promoted self to a standby leader because i had the session lock';
  if (ctx.paused) return { action: 'renew', reason, ifLockLost };
  const step = followStep(ctx, remote.name, remote.name);
  if ('action' in step) return step.action === 'rewind' ? { ...step, keepLease: true } : step;
  return { action: 'renew', reason, ifLockLost, follow: step };
}
