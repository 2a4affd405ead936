import { isVoter, quorum } from './membership.js';
import type { RaftState } from './state.js';

/**
 * ReadIndex (dissertation §6.4): a read registered at the current commit index may be served once a
 * quorum has answered a heartbeat sent after the read was registered (proving we were still leader),
 * and only after this leader committed an entry of its own term (before that its commit index may
 * lag entries committed by the previous leader).
 */
export function readIndex(s: RaftState, requestId: string): void {
  if (s.role !== 'leader') {
    s.failedReads.push(requestId);
    return;
  }
  if (s.log.term(s.commit) !== s.term) {
    s.readsBeforeCommit.push(requestId);
    return;
  }
  registerRead(s, requestId);
}

function registerRead(s: RaftState, requestId: string): void {
  s.readRound += 1;
  s.reads.push({ id: requestId, index: s.commit, round: s.readRound });
  s.needReadHeartbeat = true;
  confirmReads(s);
}

/** Called when the commit index advances: reads held back for a current-term commit may start. */
export function releaseReadsAfterCommit(s: RaftState): void {
  if (s.readsBeforeCommit.length === 0 || s.log.term(s.commit) !== s.term) return;
  const held = s.readsBeforeCommit;
  s.readsBeforeCommit = [];
  for (const id of held) registerRead(s, id);
}

/** Serve, oldest first, every read whose round a quorum of voters has acknowledged. */
export function confirmReads(s: RaftState): void {
  if (s.reads.length === 0) return;
  const m = s.membership();
  const need = quorum(m);
  const selfVotes = isVoter(m, s.id) ? 1 : 0;
  let served = 0;
  for (const r of s.reads) {
    let acks = selfVotes;
    for (const v of m.voters) {
      if (v !== s.id && (s.progress.get(v)?.readRound ?? 0) >= r.round) acks++;
    }
    if (acks < need) break;
    s.readStates.push({ requestId: r.id, index: r.index });
    served++;
  }
  if (served > 0) s.reads.splice(0, served);
}

export function failAllReads(s: RaftState): void {
  for (const r of s.reads) s.failedReads.push(r.id);
  s.failedReads.push(...s.readsBeforeCommit);
  s.reads = [];
  s.readsBeforeCommit = [];
  s.needReadHeartbeat = false;
}
