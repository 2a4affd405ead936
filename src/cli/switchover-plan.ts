/**
 * The switchover/failover dialogue as a pure function: given the cluster, the flags and the answers
 * so far, what to ask next, what to refuse (patronictl's texts), or what to send. The command only
 * loops: ask, record the answer, call again. Tests walk every branch without a terminal.
 */
import type { ClusterJson, ClusterMember, SwitchoverBody } from '../client/index.js';
import { isLeader } from './cluster-table.js';
import { parseScheduleTime } from './schedule.js';

export type SwitchoverKind = 'switchover' | 'failover';

export interface SwitchoverInputs {
  kind: SwitchoverKind;
  cluster: ClusterJson;
  /** --primary / --leader */
  primary?: string;
  candidate?: string;
  /** --scheduled: an ISO 8601 time or `now`. */
  scheduled?: string;
  force: boolean;
  /** For the example in the "when" question and for parsing local times. */
  now: Date;
}

export interface SwitchoverAnswers {
  primary?: string;
  /** '' = any healthy member (switchover only). */
  candidate?: string;
  when?: string;
  /** Failover to an asynchronous member in synchronous mode. */
  asyncConfirmed?: boolean;
  confirmed?: boolean;
}

export type SwitchoverStep =
  | { step: 'ask-primary'; message: string; default: string }
  | { step: 'ask-candidate'; message: string; choices: string[]; allowAny: boolean }
  | { step: 'ask-when'; message: string; default: 'now' }
  | { step: 'confirm-async'; message: string; abort: string }
  | { step: 'confirm'; message: string; abort: string }
  | { step: 'error'; message: string }
  | {
      step: 'send';
      body: SwitchoverBody;
      /** Agents to send to, in order: the leader's, else the candidate's (then any other). */
      targets: string[];
      candidate: string | null;
      scheduledAt: string | null;
    };

export function nextSwitchoverStep(inp: SwitchoverInputs, ans: SwitchoverAnswers): SwitchoverStep {
  const { cluster, kind } = inp;
  const name = cluster.scope;
  const leader = cluster.members.find(isLeader) ?? null;
  const leaderWord = leader?.role === 'standby_leader' ? 'Standby Leader' : 'Primary';

  if (kind === 'switchover' && !leader) return { step: 'error', message: 'This cluster has no leader' };

  let primary: string | null = null;
  if (kind === 'switchover') {
    primary = inp.primary ?? ans.primary ?? null;
    if (primary === null) {
      if (!inp.force) return { step: 'ask-primary', message: `${leaderWord}`, default: leader!.name };
      primary = leader!.name;
    }
    if (primary !== leader!.name) return { step: 'error', message: `Member ${primary} is not the leader of cluster ${name}` };
  }

  const candidates = cluster.members
    .filter((m) => !isLeader(m) && m.tags?.nofailover !== true)
    .map((m) => m.name)
    .sort();
  if (candidates.length === 0) return { step: 'error', message: `No candidates found to ${kind} to` };

  let candidate = inp.candidate ?? ans.candidate ?? null;
  if (candidate === null && !inp.force) {
    return { step: 'ask-candidate', message: 'Candidate', choices: candidates, allowAny: kind === 'switchover' };
  }
  if (candidate === '') candidate = null;
  if (kind === 'failover' && candidate === null) return { step: 'error', message: 'Failover could be performed only to a specific candidate' };
  if (candidate !== null && leader && candidate === leader.name) {
    return { step: 'error', message: `Member ${candidate} is already the leader of cluster ${name}` };
  }
  if (candidate !== null && !candidates.includes(candidate)) {
    return { step: 'error', message: `Member ${candidate} does not exist in cluster ${name} or is tagged as nofailover` };
  }

  if (kind === 'failover' && candidate !== null && !inp.force && ans.asyncConfirmed === undefined) {
    const syncMode = cluster.members.some((m) => m.role === 'sync_standby' || m.role === 'quorum_standby');
    const target = cluster.members.find((m) => m.name === candidate)!;
    if (syncMode && target.role !== 'sync_standby' && target.role !== 'quorum_standby') {
      return { step: 'confirm-async', message: `Are you sure you want to failover to the asynchronous node ${candidate}?`, abort: 'Aborting failover' };
    }
  }
  if (ans.asyncConfirmed === false) return { step: 'error', message: 'Aborting failover' };

  let scheduledAt: string | null = null;
  if (kind === 'switchover') {
    const when = inp.scheduled ?? ans.when ?? (inp.force ? 'now' : null);
    if (when === null) {
      const example = new Date(inp.now.getTime() + 3600_000).toISOString().slice(0, 16).replace('T', ' ');
      return { step: 'ask-when', message: `When should the switchover take place (e.g. ${example} )`, default: 'now' };
    }
    const parsed = parseScheduleTime(when);
    if ('error' in parsed) return { step: 'error', message: parsed.error };
    scheduledAt = parsed.iso;
    if (scheduledAt !== null && cluster.pause) return { step: 'error', message: "Can't schedule switchover in the paused state" };
  }

  if (!inp.force && ans.confirmed === undefined) {
    const demoting = leader ? `, demoting current leader ${leader.name}` : '';
    if (scheduledAt !== null) {
      return { step: 'confirm', message: `Are you sure you want to schedule ${kind} of cluster ${name} at ${scheduledAt}${demoting}?`, abort: `Aborting scheduled ${kind}` };
    }
    return { step: 'confirm', message: `Are you sure you want to ${kind} cluster ${name}${demoting}?`, abort: `Aborting ${kind}` };
  }
  if (ans.confirmed === false) return { step: 'error', message: scheduledAt !== null ? `Aborting scheduled ${kind}` : `Aborting ${kind}` };

  const body: SwitchoverBody = kind === 'switchover' ? { leader: primary! } : {};
  if (candidate !== null) body.candidate = candidate;
  if (scheduledAt !== null) body.scheduled_at = scheduledAt;
  const first = leader ?? cluster.members.find((m) => m.name === candidate) ?? null;
  return { step: 'send', body, targets: orderTargets(cluster.members, first), candidate, scheduledAt };
}

function orderTargets(members: ClusterMember[], first: ClusterMember | null): string[] {
  const ordered = first ? [first, ...members.filter((m) => m !== first)] : members;
  return ordered.map((m) => m.api_url).filter((u): u is string => typeof u === 'string' && u !== '');
}

/**
 * `--wait-for-lag`: members the switchover could go to that lag more than the agents allow
 * (maximum_lag_on_failover); empty when the request can be sent now.
 */
export function laggingCandidates(cluster: ClusterJson, candidate: string | null, maxLagBytes: number): { name: string; lagBytes: number | 'unknown' }[] {
  const pool = cluster.members.filter((m) => !isLeader(m) && m.tags?.nofailover !== true && (candidate === null || m.name === candidate));
  const lagOf = (m: ClusterMember) => m.lag ?? m.replay_lag ?? 'unknown';
  const healthy = pool.filter((m) => {
    const lag = lagOf(m);
    return lag !== 'unknown' && lag <= maxLagBytes;
  });
  // With no candidate named, one healthy member is enough for the agent to pick.
  if (healthy.length > 0 && (candidate === null || healthy.length === pool.length)) return [];
  return pool.map((m) => ({ name: m.name, lagBytes: lagOf(m) }));
}
