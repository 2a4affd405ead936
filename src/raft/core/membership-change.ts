import { encodeMembership } from '../codec/entry.js';
import { becomeFollower } from './election.js';
import { isMember, isVoter } from './membership.js';
import { Progress } from './progress.js';
import { releaseReadsAfterCommit } from './reads.js';
import { broadcast } from './replication.js';
import type { RaftState } from './state.js';
import { maybeSendTimeoutNow } from './transfer.js';
import type { Membership, NodeId } from './types.js';

export interface MembershipChange {
  /**
   * `rejoin`: a member whose log was lost asks to come back. A voter is first demoted to learner
   * (one single-server change: it leaves the voter set), then promoted like `addVoter` once caught
   * up, so it counts in no quorum before it again holds everything committed.
   */
  type: 'addLearner' | 'addVoter' | 'rejoin' | 'remove';
  node: NodeId;
}

/**
 * `index` is the config entry appended now; null when only a promotion was scheduled (the node is
 * already a learner and becomes a voter once caught up).
 */
export type MembershipChangeResult = { ok: true; index: number | null; term: number } | { ok: false; reason: string };

export function proposeMembership(s: RaftState, change: MembershipChange): MembershipChangeResult {
  if (s.role !== 'leader') return { ok: false, reason: `not the leader (leader: ${s.leader ?? 'unknown'})` };
  if (s.leadTransferee !== null) return { ok: false, reason: `leadership transfer to ${s.leadTransferee} in progress` };
  if (s.log.term(s.commit) !== s.term) return { ok: false, reason: 'leader has not committed an entry of its term yet; retry' };
  if (s.configs.currentIndex() > s.commit) return { ok: false, reason: 'another membership change is not committed yet' };
  if (s.pendingPromotion !== null && s.pendingPromotion !== change.node) {
    return { ok: false, reason: `${s.pendingPromotion} is still catching up to become a voter` };
  }
  const m = s.membership();
  const { node } = change;
  switch (change.type) {
    case 'addLearner':
      if (isMember(m, node)) return { ok: false, reason: `${node} is already a member` };
      return appendConfig(s, { voters: [...m.voters], learners: [...m.learners, node] });
    case 'rejoin': {
      if (!isVoter(m, node)) return proposeMembership(s, { type: 'addVoter', node });
      if (node === s.id) return { ok: false, reason: `${node} is the leader and cannot rejoin as a learner` };
      if (m.voters.length === 1) return { ok: false, reason: `${node} is the only voter` };
      s.pendingPromotion = node;
      const demoted = appendConfig(s, { voters: m.voters.filter((v) => v !== node), learners: [...m.learners, node] });
      // What we knew of its log is gone with its data: catch it up from scratch, and promote it
      // only on acknowledgements it sends from now on (a stale match would promote it at once).
      s.progress.set(node, new Progress(node, s.log.lastIndex + 1));
      return demoted;
    }
    case 'addVoter':
      if (isVoter(m, node)) return { ok: false, reason: `${node} is already a voter` };
      // Catch-up phase (dissertation §4.2.1): the newcomer replicates as a non-voting learner first,
      // so adding an empty server does not stall commits while it copies the log.
      s.pendingPromotion = node;
      if (m.learners.includes(node)) {
        const promoted = tryPromote(s);
        return promoted ?? { ok: true, index: null, term: s.term };
      }
      return appendConfig(s, { voters: [...m.voters], learners: [...m.learners, node] });
    case 'remove': {
      if (!isMember(m, node)) return { ok: false, reason: `${node} is not a member` };
      const voters = m.voters.filter((v) => v !== node);
      if (voters.length === 0) return { ok: false, reason: 'cannot remove the last voter' };
      if (s.pendingPromotion === node) s.pendingPromotion = null;
      return appendConfig(s, { voters, learners: m.learners.filter((l) => l !== node) });
    }
  }
}

function appendConfig(s: RaftState, m: Membership): MembershipChangeResult {
  const index = s.log.lastIndex + 1;
  s.appendEntry({ index, term: s.term, type: 'config', data: encodeMembership(m) });
  syncProgress(s);
  s.needBroadcast = true;
  return { ok: true, index, term: s.term };
}

/** Leader: replicate to exactly the members of the (just changed) current config. */
export function syncProgress(s: RaftState): void {
  const peers = new Set(s.peers());
  for (const id of [...s.progress.keys()]) if (!peers.has(id)) s.progress.delete(id);
  for (const id of peers) if (!s.progress.has(id)) s.progress.set(id, new Progress(id, s.log.lastIndex + 1));
  if (s.leadTransferee !== null && !isVoter(s.membership(), s.leadTransferee)) s.leadTransferee = null;
}

/** Promote the pending learner when it is within catchUpEntries of our log and no change is pending. */
function tryPromote(s: RaftState): MembershipChangeResult | null {
  const node = s.pendingPromotion;
  if (node === null || s.role !== 'leader' || s.configs.currentIndex() > s.commit) return null;
  const pr = s.progress.get(node);
  const m = s.membership();
  if (!pr || !m.learners.includes(node)) {
    s.pendingPromotion = null;
    return null;
  }
  if (s.log.lastIndex - pr.match > s.cfg.catchUpEntries) return null;
  s.pendingPromotion = null;
  return appendConfig(s, { voters: [...m.voters, node], learners: m.learners.filter((l) => l !== node) });
}

export function afterFollowerProgress(s: RaftState, from: NodeId, _pr: Progress): void {
  if (from === s.pendingPromotion) tryPromote(s);
  if (from === s.leadTransferee) maybeSendTimeoutNow(s);
}

export function afterCommit(s: RaftState): void {
  releaseReadsAfterCommit(s);
  if (s.role !== 'leader') return;
  // A leader that removed itself keeps leading until the change commits (it must replicate it),
  // then steps down and hands over to the most up-to-date voter at once rather than a timeout.
  if (!isVoter(s.membership(), s.id) && s.commit >= s.configs.currentIndex()) {
    broadcast(s);
    let best: Progress | null = null;
    for (const v of s.membership().voters) {
      const pr = s.progress.get(v);
      if (pr && (best === null || pr.match > best.match)) best = pr;
    }
    if (best !== null && best.match === s.log.lastIndex) {
      s.send({ type: 'TimeoutNow', from: s.id, to: best.id, term: s.term });
    }
    becomeFollower(s, s.term, null);
    return;
  }
  tryPromote(s);
}
