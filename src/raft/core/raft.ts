import { becomeFollower, campaign, checkQuorum, handleVoteRequest, handleVoteResponse, inLease } from './election.js';
import { handleAppend, handleSnapshot } from './follower.js';
import { afterCommit, afterFollowerProgress, proposeMembership, type MembershipChange, type MembershipChangeResult } from './membership-change.js';
import type { ProgressState } from './progress.js';
import { readIndex } from './reads.js';
import { broadcast, handleAppendResponse, handleSnapshotResponse, heartbeat, maybeCommit } from './replication.js';
import { RaftState, sameHardState } from './state.js';
import { tickTransfer, transferLeadership, type TransferResult } from './transfer.js';
import type { Membership, Message, NodeId, RaftConfig, RaftInitialState, Ready, Role, Snapshot } from './types.js';

export interface PeerStatus {
  match: number;
  next: number;
  state: ProgressState;
  recentActive: boolean;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId | null;
  leader: NodeId | null;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  lastTerm: number;
  snapshotIndex: number;
  membership: Membership;
  /** Index of the entry carrying the current membership; > commit while a change is pending. */
  membershipIndex: number;
  /** Learner being caught up before promotion to voter (leader only). */
  pendingPromotion: NodeId | null;
  leadTransferee: NodeId | null;
  persistHealthy: boolean;
  canVote: boolean;
  lastStepDownReason: string | null;
  /** Replication state per peer; empty unless leader. */
  peers: Record<NodeId, PeerStatus>;
}

/**
 * The pure Raft state machine (etcd-io/raft shape): feed it tick(), step(msg) and proposals, then
 * drain ready(), persist / send / apply it as Ready's docs say, and call advance(ready). One Ready
 * at a time: ready() may be called again only after advance() (or stepDown() when persisting it
 * failed). At start the application restores its state machine from `initial.snapshot`; the core
 * then re-emits committed entries after it.
 */
export class RaftCore {
  private readonly s: RaftState;

  constructor(config: RaftConfig, initial: RaftInitialState) {
    if (config.electionTicksMin <= config.heartbeatTicks) {
      throw new Error('raft: electionTicksMin must be greater than heartbeatTicks');
    }
    this.s = new RaftState(config, initial);
    this.s.hooks = { afterFollowerProgress, afterCommit };
    this.s.resetElectionTimer();
  }

  tick(): void {
    const s = this.s;
    if (s.role === 'leader') {
      tickTransfer(s);
      s.electionElapsed += 1;
      if (s.electionElapsed >= s.cfg.electionTicksMin) {
        s.electionElapsed = 0;
        if (!checkQuorum(s)) {
          becomeFollower(s, s.term, null);
          return;
        }
      }
      s.heartbeatElapsed += 1;
      if (s.heartbeatElapsed >= s.cfg.heartbeatTicks) {
        s.heartbeatElapsed = 0;
        heartbeat(s);
      }
      return;
    }
    s.electionElapsed += 1;
    if (s.electionElapsed >= s.randomizedElectionTimeout && s.isVoter() && s.persistHealthy && s.canVote) campaign(s, false);
  }

  step(msg: Message): void {
    const s = this.s;
    if (msg.from === s.id || msg.to !== s.id) return;
    if (msg.term > s.term) {
      if ((msg.type === 'PreVote' || msg.type === 'Vote') && inLease(s, msg)) return;
      // A pre-vote (or a grant of one) speaks of a term nobody has entered yet.
      const future = msg.type === 'PreVote' || (msg.type === 'PreVoteResp' && msg.granted);
      if (!future) {
        const fromLeader = msg.type === 'Append' || msg.type === 'Snapshot' || msg.type === 'TimeoutNow';
        becomeFollower(s, msg.term, fromLeader ? msg.from : null);
      }
    } else if (msg.term < s.term) {
      // Tell a stale leader about the newer term so it steps down (it may be stuck behind a
      // partition that pre-vote keeps from disrupting the others, but it must learn it lost).
      if (msg.type === 'Append' || msg.type === 'Snapshot') {
        s.send({ type: 'AppendResp', from: s.id, to: msg.from, term: s.term, success: false, matchIndex: s.log.lastIndex, readRound: 0 });
      } else if (msg.type === 'PreVote') {
        s.send({ type: 'PreVoteResp', from: s.id, to: msg.from, term: s.term, granted: false });
      }
      return;
    }
    switch (msg.type) {
      case 'PreVote':
      case 'Vote':
        handleVoteRequest(s, msg);
        return;
      case 'PreVoteResp':
      case 'VoteResp':
        handleVoteResponse(s, msg);
        return;
      case 'Append':
      case 'Snapshot':
        if (s.role === 'leader') return;
        if (s.role !== 'follower') becomeFollower(s, s.term, msg.from);
        s.leader = msg.from;
        s.electionElapsed = 0;
        if (msg.type === 'Append') handleAppend(s, msg);
        else handleSnapshot(s, msg);
        return;
      case 'AppendResp':
        if (s.role === 'leader') handleAppendResponse(s, msg);
        return;
      case 'SnapshotResp':
        if (s.role === 'leader') handleSnapshotResponse(s, msg);
        return;
      case 'TimeoutNow':
        if (s.role !== 'leader') campaign(s, true);
        return;
    }
  }

  /** Append a command; null when not leader or while leadership is being transferred. */
  propose(data: Uint8Array): { index: number; term: number } | null {
    const s = this.s;
    if (s.role !== 'leader' || s.leadTransferee !== null) return null;
    const index = s.log.lastIndex + 1;
    s.appendEntry({ index, term: s.term, type: 'normal', data });
    s.needBroadcast = true;
    return { index, term: s.term };
  }

  proposeMembership(change: MembershipChange): MembershipChangeResult {
    return proposeMembership(this.s, change);
  }

  /** Linearizable read: the id comes back in readStates (serve once applied ≥ index) or failedReads. */
  readIndex(requestId: string): void {
    readIndex(this.s, requestId);
  }

  transferLeadership(to: NodeId): TransferResult {
    return transferLeadership(this.s, to);
  }

  /**
   * The application snapshotted its state machine at applied index `index`: drop the entries it
   * covers and keep the snapshot for followers that fall behind. Returns the snapshot (with the
   * term and membership at `index`) for the caller to persist.
   */
  compact(index: number, snapshotData: Uint8Array): Snapshot {
    const s = this.s;
    if (index > s.applied) throw new Error(`raft: cannot compact to ${index} beyond applied ${s.applied}`);
    if (index <= s.log.snapshotIndex && s.snapshot) return s.snapshot;
    const term = s.log.term(index) as number;
    const snap: Snapshot = { meta: { index, term, membership: s.configs.at(index) }, data: snapshotData };
    s.log.compactTo(index, term);
    s.configs.compactTo(index);
    s.snapshot = snap;
    return snap;
  }

  hasReady(): boolean {
    const s = this.s;
    if (s.inFlightReady !== null) return false;
    return (
      s.msgs.length > 0 ||
      s.needBroadcast ||
      s.needReadHeartbeat ||
      s.readStates.length > 0 ||
      s.failedReads.length > 0 ||
      s.pendingSnapshot !== null ||
      s.unstableFrom <= s.log.lastIndex ||
      s.commit > s.applied ||
      !sameHardState(s.hardState(), s.emittedHardState)
    );
  }

  ready(): Ready {
    const s = this.s;
    if (s.inFlightReady !== null) throw new Error('raft: ready() called again before advance()');
    if (s.role === 'leader') {
      if (s.needBroadcast) broadcast(s);
      if (s.needReadHeartbeat) heartbeat(s);
    }
    const hs = s.hardState();
    const snapshot = s.pendingSnapshot;
    const applyFrom = Math.max(s.applied, snapshot?.meta.index ?? 0) + 1;
    const rd: Ready = {
      softState: { role: this.role(), leader: s.leader, term: s.term },
      hardState: sameHardState(hs, s.emittedHardState) ? null : hs,
      entries: s.log.slice(s.unstableFrom, s.log.lastIndex + 1),
      snapshot,
      messages: s.msgs,
      committed: s.log.slice(applyFrom, s.commit + 1),
      readStates: s.readStates,
      failedReads: s.failedReads,
    };
    s.msgs = [];
    s.readStates = [];
    s.failedReads = [];
    s.pendingSnapshot = null;
    s.unstableFrom = s.log.lastIndex + 1;
    s.emittedHardState = hs;
    s.inFlightReady = rd;
    return rd;
  }

  /** The Ready was persisted, its messages sent and its committed entries applied. */
  advance(rd: Ready): void {
    const s = this.s;
    if (s.inFlightReady !== rd) return; // superseded by stepDown(): it will be re-emitted
    s.inFlightReady = null;
    if (rd.hardState) s.persistedHardState = rd.hardState;
    if (rd.snapshot) {
      s.stableIndex = Math.max(s.stableIndex, rd.snapshot.meta.index);
      s.applied = Math.max(s.applied, rd.snapshot.meta.index);
    }
    const last = rd.entries[rd.entries.length - 1];
    // Same index and term means the same entry and prefix (log matching), so it is durable even if
    // a conflicting append replaced something after it meanwhile.
    if (last && s.log.term(last.index) === last.term && last.index > s.stableIndex) s.stableIndex = last.index;
    const lastApplied = rd.committed[rd.committed.length - 1];
    if (lastApplied) s.applied = Math.max(s.applied, lastApplied.index);
    maybeCommit(s);
  }

  /**
   * Persisting failed (ENOSPC, EIO): a leader steps down so a healthy node can lead, and the node
   * will not campaign until setPersistHealthy(true). The failed Ready's unpersisted entries, hard
   * state and snapshot are handed out again by the next Ready; its messages must not be sent.
   */
  stepDown(reason: string): void {
    const s = this.s;
    s.persistHealthy = false;
    s.lastStepDownReason = reason;
    const rd = s.inFlightReady;
    s.inFlightReady = null;
    if (rd) {
      if (rd.snapshot && !s.pendingSnapshot) s.pendingSnapshot = rd.snapshot;
      s.failedReads.push(...rd.failedReads, ...rd.readStates.map((r) => r.requestId));
    }
    s.unstableFrom = Math.min(s.unstableFrom, s.stableIndex + 1);
    s.emittedHardState = { ...s.persistedHardState };
    if (s.role !== 'follower') becomeFollower(s, s.term, null);
  }

  /** Off while the member recovers from a lost log: no campaigning, no votes (see RaftState.canVote). */
  setCanVote(canVote: boolean): void {
    this.s.canVote = canVote;
    if (canVote) this.s.resetElectionTimer();
  }

  setPersistHealthy(healthy: boolean): void {
    this.s.persistHealthy = healthy;
    if (healthy) this.s.resetElectionTimer();
  }

  status(): RaftStatus {
    const s = this.s;
    const peers: Record<NodeId, PeerStatus> = {};
    for (const [id, pr] of s.progress) {
      peers[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive };
    }
    return {
      id: s.id,
      role: this.role(),
      term: s.term,
      vote: s.vote,
      leader: s.leader,
      commit: s.commit,
      applied: s.applied,
      firstIndex: s.log.firstIndex,
      lastIndex: s.log.lastIndex,
      lastTerm: s.log.lastTerm,
      snapshotIndex: s.log.snapshotIndex,
      membership: s.membership(),
      membershipIndex: s.configs.currentIndex(),
      pendingPromotion: s.pendingPromotion,
      leadTransferee: s.leadTransferee,
      persistHealthy: s.persistHealthy,
      canVote: s.canVote,
      lastStepDownReason: s.lastStepDownReason,
      peers,
    };
  }

  private role(): Role {
    const s = this.s;
    if (s.role === 'follower' && s.membership().learners.includes(s.id)) return 'learner';
    return s.role;
  }
}
