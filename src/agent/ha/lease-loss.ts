/**
 * What to do when the DCS cannot be read or written this cycle (docs/patroni-behaviour.md 4.8).
 *
 * Safety argument. Only the holder of the leader key may run a writable primary. While the store
 * is unreachable the holder cannot renew, but it does not lose the key at once: its last
 * CONFIRMED acquire/renewal gives it a lease it may believe in until `leaseDeadlineMonoMs`
 * (src/raft/kv/lease.ts: counted from when that write was SENT, shortened by the clock-drift bound,
 * so no other member can create the key before that moment in real time). Keeping the primary
 * running until then cannot produce two primaries. A write whose outcome is unknown (it timed out)
 * never extends the deadline.
 *
 * The demotion must be FINISHED before the deadline, not started at it. After this decision the
 * next chance to act comes at most `loop_wait` (the sleep) + `retry_timeout` (the next DCS call,
 * which may hang that long) later, and an immediate stop takes up to `demoteTimeMs`. So the
 * primary keeps running only if
 *
 *     monoNow + loop_wait + retry_timeout + demoteTime < leaseDeadline
 *
 * and otherwise demotes now, in `immediate` mode (no checkpoint: a checkpoint has no time bound).
 * With the default timing (ttl 30, loop_wait 10, retry_timeout 10) this demotes at the first
 * failed cycle, exactly like Patroni; with a short loop_wait it rides out a brief Raft election
 * instead of failing over for nothing. A frozen agent cannot make this decision at all: that case
 * belongs to the watchdog and the fence process (issue 9), which enforce the same deadline from
 * outside the event loop.
 *
 * With failsafe_mode a primary may also go on while every member accepts its POST /failsafe
 * (failsafe.ts); when that fails, this rule decides as without it.
 *
 * Replicas just report (they keep streaming). A paused cluster takes no action, as in Patroni.
 */
import { bare, runsAsPrimary } from './context.js';
import { decideFailsafePrimary } from './failsafe.js';
import type { DecideInput, Decision, Note } from './types.js';

/** Whether the lease this member believes in outlasts the next cycle plus a demotion. */
export function leaseCoversNextCycle(input: DecideInput): boolean {
  const { self, config, monoNowMs } = input;
  if (self.leaseDeadlineMonoMs === null) return false;
  return monoNowMs + config.loopWaitMs + config.retryTimeoutMs + config.demoteTimeMs < self.leaseDeadlineMonoMs;
}

export function decideWithoutDcs(input: DecideInput): Decision {
  const { local, config, self } = input;
  const notes: Note[] = [{ level: 'error', message: 'Error communicating with DCS' }];
  if (config.pause) return { ...bare({ action: 'no-action', reason: 'DCS is not accessible' }), notes };

  if (!runsAsPrimary(local)) {
    // A promote already under way would turn us into a primary after the lease ends: stop it.
    if (self.longAction?.name === 'promote' && !leaseCoversNextCycle(input)) {
      return { ...bare({ action: 'cancel-long-action', reason: 'lost leader before promote' }), notes };
    }
    return { ...bare({ action: 'no-action', reason: 'DCS is not accessible' }), notes };
  }
  // failsafe_mode: every member accepted this cycle's POST /failsafe (failsafe.ts); else the lease rule below.
  const failsafe = decideFailsafePrimary(input, notes);
  if (failsafe) return failsafe;
  if (leaseCoversNextCycle(input)) {
    const leftSeconds = Math.floor((self.leaseDeadlineMonoMs! - input.monoNowMs) / 1000);
    return {
      ...bare({
        action: 'no-action',
        reason: `continue to run as primary while the leader lease lasts (${leftSeconds} seconds left); DCS is not accessible`,
      }),
      notes,
    };
  }
  return {
    ...bare({
      action: 'demote',
      mode: 'immediate',
      releaseLeader: false,
      leader: null,
      offline: true,
      reason: 'demoted self because DCS is not accessible and I was a leader',
    }),
    notes: [...notes, { level: 'info', message: 'demoting self because DCS is not accessible and I was a leader' }],
  };
}
