import { isVoter } from './membership.js';
import { replicateTo } from './replication.js';
import type { RaftState } from './state.js';
import type { NodeId } from './types.js';

export type TransferResult = { ok: true } | { ok: false; reason: string };

/**
 * Leadership transfer (dissertation §3.10): stop taking proposals, bring the target up to date,
 * then send TimeoutNow so it campaigns at once (its votes bypass the live-leader check). Aborted
 * after an election timeout if the target does not take over.
 */
export function transferLeadership(s: RaftState, to: NodeId): TransferResult {
  if (s.role !== 'leader') return { ok: false, reason: `not the leader (leader: ${s.leader ?? 'unknown'})` };
  if (to === s.id) return { ok: true };
  if (!isVoter(s.membership(), to)) return { ok: false, reason: `${to} is not a voting member` };
  s.leadTransferee = to;
  s.transferElapsed = 0;
  const pr = s.progress.get(to)!;
  if (pr.match === s.log.lastIndex) maybeSendTimeoutNow(s);
  else replicateTo(s, to, pr);
  return { ok: true };
}

export function maybeSendTimeoutNow(s: RaftState): void {
  const to = s.leadTransferee;
  if (to === null) return;
  const pr = s.progress.get(to);
  if (pr && pr.match === s.log.lastIndex) s.send({ type: 'TimeoutNow', from: s.id, to, term: s.term });
}

export function tickTransfer(s: RaftState): void {
  if (s.leadTransferee === null) return;
  s.transferElapsed += 1;
  if (s.transferElapsed >= s.cfg.electionTicksMin) s.leadTransferee = null;
}
