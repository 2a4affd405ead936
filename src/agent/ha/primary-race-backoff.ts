/**
 * Patroni's `primary_race_backoff` (master, PR #3453, after 4.0; docs/patroni-behaviour.md 4.2): the
 * leader key is free, yet WAL from the primary still reaches this replica, so the primary is more
 * likely briefly unresponsive (a stalled agent, a slow store) than dead. The replica postpones the
 * leader race for up to `primary_race_backoff` seconds while its WAL position keeps moving, which
 * spares a needless failover. Pure: the countdown's start and the previous cycle's WAL position come
 * in as HaSelfState and go back to the loop through the decision.
 *
 * Patroni's rules (ha.py process_unhealthy_cluster), matched:
 * - only when not paused, not a standby cluster, no failover/switchover request naming a candidate,
 *   the setting above 0 and a WAL position known from the previous cycle;
 * - the countdown starts at the first leaderless cycle these hold and is reset only when the store
 *   shows a leader again (load_cluster_from_dcs), not when the WAL stops;
 * - postponed while time is left and the WAL receiver streams and the position moved since the
 *   previous cycle, and in any case during the first loop_wait of the countdown (a key that expired
 *   just after the primary's last heartbeat says little);
 * - the status line is Patroni's, whichever of the two holds it back.
 * Deliberate difference: a member running as primary is never held back (Patroni's docs speak of
 * standbys; its code would leave a keyless primary waiting a loop_wait before taking the key back).
 */
import { walPosition } from './candidate-facts.js';
import type { DecideInput } from './types.js';

export interface RaceBackoff {
  /** The status line when the race is postponed this cycle; null: race now. */
  postpone: string | null;
  /** The countdown's start to keep; differs from the input's when this cycle started it. */
  sinceMonoMs: number | null;
}

/** Null when the backoff does not apply this cycle (the countdown is left as it is). */
export function primaryRaceBackoff(input: DecideInput): RaceBackoff | null {
  const { config, self, local, monoNowMs, view } = input;
  const backoffMs = config.primaryRaceBackoffMs ?? 0;
  const previous = self.walLsnLastCycle ?? null;
  if (config.pause || config.standbyCluster || view?.failover?.candidate || backoffMs <= 0 || previous === null) return null;
  if (local.role === 'primary') return null;
  const sinceMonoMs = self.primaryRaceBackoffSinceMonoMs ?? monoNowMs;
  const leftMs = sinceMonoMs + backoffMs - monoNowMs;
  const moved = local.walReceiverStreaming === true && walPosition(local) > previous;
  const postpone = (leftMs > 0 && moved) || leftMs > backoffMs - config.loopWaitMs;
  return {
    postpone: postpone ? `My (${config.name}) wal position moved since last heart beat loop, ${(leftMs / 1000).toFixed(0)} seconds until leader race` : null,
    sinceMonoMs,
  };
}

/** Ms until the countdown ends (the loop wakes then rather than a whole loop_wait later, as Patroni's watch does); null: none running. */
export function raceBackoffLeftMs(self: DecideInput['self'], backoffMs: number, monoNowMs: number): number | null {
  const since = self.primaryRaceBackoffSinceMonoMs ?? null;
  if (since === null || backoffMs <= 0) return null;
  const left = since + backoffMs - monoNowMs;
  return left > 0 ? left : null;
}
