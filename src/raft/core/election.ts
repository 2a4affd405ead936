import { isVoter, quorum } from './membership.js';
import { Progress } from './progress.js';
import { failAllReads } from './reads.js';
import type { RaftState } from './state.js';
import type { NodeId, VoteRequest, VoteResponse } from './types.js';

export function becomeFollower(s: RaftState, term: number, leader: NodeId | null): void {
  const wasLeader = s.role === 'leader';
  if (term !== s.term) {
    s.term = term;
    s.vote = null;
  }
  s.role = 'follower';
  s.leader = leader;
  s.votes.clear();
  s.resetElectionTimer();
  if (wasLeader) {
    failAllReads(s);
    s.progress.clear();
    s.leadTransferee = null;
    s.pendingPromotion = null;
    s.needBroadcast = false;
  }
}

/**
 * Pre-vote (dissertation §9.6): ask whether we could win before bumping the term, so a node that
 * was partitioned away cannot force the healthy cluster into a new term when it returns.
 */
export function campaign(s: RaftState, transfer: boolean): void {
  if (!s.isVoter() || !s.persistHealthy || !s.canVote) return;
  if (transfer) {
    becomeCandidate(s, true);
    return;
  }
  s.role = 'pre-candidate';
  s.leader = null;
  s.votes.clear();
  s.votes.set(s.id, true);
  s.resetElectionTimer();
  if (tally(s).won) {
    becomeCandidate(s, false);
    return;
  }
  requestVotes(s, 'PreVote', s.term + 1, false);
}

function becomeCandidate(s: RaftState, transfer: boolean): void {
  s.term += 1;
  s.vote = s.id;
  s.role = 'candidate';
  s.leader = null;
  s.votes.clear();
  s.votes.set(s.id, true);
  s.resetElectionTimer();
  if (tally(s).won) {
    becomeLeader(s);
    return;
  }
  requestVotes(s, 'Vote', s.term, transfer);
}

function requestVotes(s: RaftState, type: 'PreVote' | 'Vote', term: number, transfer: boolean): void {
  for (const to of s.membership().voters) {
    if (to === s.id) continue;
    const msg: VoteRequest = {
      type,
      from: s.id,
      to,
      term,
      lastLogIndex: s.log.lastIndex,
      lastLogTerm: s.log.lastTerm,
      transfer,
    };
    s.send(msg);
  }
}

export function becomeLeader(s: RaftState): void {
  s.role = 'leader';
  s.leader = s.id;
  s.votes.clear();
  s.electionElapsed = 0;
  s.heartbeatElapsed = 0;
  s.leadTransferee = null;
  s.pendingPromotion = null;
  s.progress.clear();
  for (const peer of s.peers()) s.progress.set(peer, new Progress(peer, s.log.lastIndex + 1));
  // Entries of earlier terms commit only once an entry of this term does (Figure 8): the noop
  // makes that happen without waiting for a client write, and lets ReadIndex start serving.
  s.appendEntry({ index: s.log.lastIndex + 1, term: s.term, type: 'noop', data: new Uint8Array(0) });
  s.needBroadcast = true;
}

function tally(s: RaftState): { won: boolean; lost: boolean } {
  const m = s.membership();
  let granted = 0;
  let rejected = 0;
  for (const v of m.voters) {
    const g = s.votes.get(v);
    if (g === true) granted++;
    else if (g === false) rejected++;
  }
  const q = quorum(m);
  return { won: granted >= q, lost: rejected >= m.voters.length - q + 1 };
}

export function handleVoteRequest(s: RaftState, msg: VoteRequest): void {
  const upToDate =
    msg.lastLogTerm > s.log.lastTerm || (msg.lastLogTerm === s.log.lastTerm && msg.lastLogIndex >= s.log.lastIndex);
  // A repeat of our vote, or no vote and no known leader this term; a pre-vote for a future term
  // changes nothing here, so it only needs the log check.
  const canVote =
    s.vote === msg.from ||
    (s.vote === null && s.leader === null) ||
    (msg.type === 'PreVote' && msg.term > s.term);
  // A member that lost its log (recovering) would vote for candidates missing committed entries.
  const granted = canVote && upToDate && s.canVote;
  const resp: VoteResponse = {
    type: msg.type === 'PreVote' ? 'PreVoteResp' : 'VoteResp',
    from: s.id,
    to: msg.from,
    term: granted ? msg.term : s.term,
    granted,
  };
  if (granted && msg.type === 'Vote') {
    s.vote = msg.from;
    s.resetElectionTimer();
  }
  s.send(resp);
}

export function handleVoteResponse(s: RaftState, msg: VoteResponse): void {
  const expected = s.role === 'pre-candidate' ? 'PreVoteResp' : s.role === 'candidate' ? 'VoteResp' : null;
  if (msg.type !== expected || !isVoter(s.membership(), msg.from)) return;
  s.votes.set(msg.from, msg.granted);
  const { won, lost } = tally(s);
  if (won) {
    if (s.role === 'pre-candidate') becomeCandidate(s, false);
    else becomeLeader(s);
  } else if (lost) {
    becomeFollower(s, s.term, null);
  }
}

/**
 * Check-quorum: a leader that has not heard from a majority of voters within the minimum election
 * timeout steps down, so a partitioned leader stops serving (and stops confirming reads) instead of
 * lingering while the majority elects someone else.
 */
export function checkQuorum(s: RaftState): boolean {
  const m = s.membership();
  let active = isVoter(m, s.id) ? 1 : 0;
  for (const v of m.voters) {
    if (v === s.id) continue;
    const pr = s.progress.get(v);
    if (pr?.recentActive) active++;
  }
  for (const pr of s.progress.values()) pr.recentActive = false;
  return active >= quorum(m);
}

/**
 * Followers ignore (pre-)votes while they heard from a live leader within the minimum election
 * timeout (leader stickiness), unless the election follows a leadership transfer.
 */
export function inLease(s: RaftState, msg: VoteRequest): boolean {
  return !msg.transfer && s.leader !== null && s.electionElapsed < s.cfg.electionTicksMin;
}
