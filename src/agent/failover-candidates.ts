/**
 * The failover explanation (ha/race-explanation.ts) on the wire: the body of GET
 * /failover/candidates, and the per-member lines that POST /switchover and /failover append to
 * their 412/503 refusals after Patroni's own first line (issue 17: operators could not tell which
 * check kept a replica from being promoted).
 */
import type { FailoverCandidatesJson } from '../protocol/index.js';
import { formatLsn } from '../postgres/index.js';
import type { FailoverExplanation } from './ha/race-explanation.js';

const num = (v: bigint | null): number | null => (v === null ? null : Number(v));

export function failoverCandidatesJson(explanation: FailoverExplanation, scope: string): FailoverCandidatesJson {
  const e = explanation;
  return {
    scope,
    scenario: e.scenario,
    answered_by: e.answeredBy,
    leader: e.leader,
    candidate: e.candidate,
    pause: e.paused,
    winner: e.winner,
    racers: e.racers,
    summary: e.summary,
    maximum_lag_on_failover: Number(e.maximumLagOnFailoverBytes),
    last_primary_lsn: num(e.lastPrimaryLsn),
    cluster_timeline: e.clusterTimeline,
    synchronous_mode: e.synchronousMode,
    members: e.members.map((m) => ({
      name: m.name,
      role: m.role,
      state: m.state,
      reachable: m.reachable,
      lsn: num(m.walLsn),
      lsn_text: m.walLsn === null ? null : formatLsn(m.walLsn),
      lag: num(m.lagBytes),
      timeline: m.timeline,
      failover_priority: m.failoverPriority,
      verdict: m.exclusion !== null ? 'excluded' : e.winner === m.name ? 'winner' : 'races',
      code: m.exclusion?.code ?? null,
      reason: m.exclusion?.reason ?? null,
      log: m.notes,
    })),
  };
}

/**
 * One line per member that would not take over and why (`node3: not reachable`), the current
 * leader and the members passed over for a named candidate left out; appended to a refusal's text after Patroni's line, which stays the first.
 */
export function refusalDetail(explanation: FailoverExplanation): string {
  const lines = explanation.members.filter((m) => m.exclusion !== null && m.exclusion.code !== 'leader' && m.exclusion.code !== 'manual').map((m) => `${m.name}: ${m.exclusion!.reason}`);
  return lines.length === 0 ? '' : `\n${lines.join('\n')}`;
}
