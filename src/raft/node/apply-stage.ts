/**
 * The apply stage of the Ready loop and everything waiting on it: committed entries go to the
 * state machine, and the writes, ReadIndex reads and applied-index waits they complete are
 * answered; membership listeners hear of every applied change; a lost leadership fails the
 * writes waiting here (their retries keep their (clientId, seq), so they cannot apply twice).
 */
import type { Entry, Membership, Ready } from '../core/types.js';
import type { KvResult, Logger } from '../kv/types.js';
import type { LeaderWatch } from './leader-watch.js';
import { RaftNotLeader } from './rpc.js';
import type { StateMachine } from './state-machine.js';
import { IndexWaiters, WaiterMap } from './waiters.js';

export class ApplyStage {
  readonly writes = new WaiterMap<string, KvResult>();
  readonly reads = new WaiterMap<string, number>();
  readonly applied = new IndexWaiters();
  private readonly membershipListeners = new Set<(m: Membership) => void>();

  constructor(
    private readonly sm: () => StateMachine,
    private readonly leaderWatch: LeaderWatch,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  onMembershipChange(listener: (membership: Membership) => void): () => void {
    this.membershipListeners.add(listener);
    return () => this.membershipListeners.delete(listener);
  }

  /** Apply stage of one Ready batch (persistence already done; `committed` = what is left to apply). */
  apply(rd: Ready, committed: readonly Entry[]): void {
    const sm = this.sm();
    if (rd.snapshot !== null && rd.snapshot.meta.index > sm.appliedIndex) {
      sm.install(rd.snapshot, this.now());
      this.logger.info(`raft: installed snapshot at index ${rd.snapshot.meta.index} (term ${rd.snapshot.meta.term})`);
      this.emitMembership();
    }
    this.applyEntries(committed);
    for (const rs of rd.readStates) this.reads.resolve(rs.requestId, rs.index);
    for (const id of rd.failedReads) this.reads.reject(id, new RaftNotLeader('leadership could not be confirmed for the read', rd.softState.leader));
    this.noteSoftState(rd);
  }

  /** Committed entries to the state machine; also called ahead of a batch's fsync for durable ones. */
  applyEntries(committed: readonly Entry[]): void {
    if (committed.length === 0) return;
    const sm = this.sm();
    const now = this.now();
    for (const entry of committed) {
      const { write, membershipChanged } = sm.apply(entry, now);
      if (write) this.writes.resolve(write.key, write.result);
      if (membershipChanged) {
        const m = sm.membership;
        this.logger.info(`raft: membership now voters [${m.voters.join(', ')}]` + (m.learners.length ? ` learners [${m.learners.join(', ')}]` : ''));
        this.emitMembership();
      }
    }
    this.applied.advanceTo(sm.appliedIndex);
  }

  /** Fail writes and reads waiting here (storage failure, stop); `andApplied` also the index waits. */
  failAll(err: Error, andApplied = false): void {
    this.writes.rejectAll(err);
    this.reads.rejectAll(err);
    if (andApplied) this.applied.rejectAll(err);
  }

  private emitMembership(): void {
    const m = this.sm().membership;
    for (const l of [...this.membershipListeners]) l(m);
  }

  private noteSoftState(rd: Ready): void {
    const change = this.leaderWatch.note(rd.softState);
    if (change === null) return;
    const s = rd.softState;
    // Waiting writes may still commit under the next leader; their retries keep (clientId, seq).
    if (change.lostLeadership) this.writes.rejectAll(new RaftNotLeader('this node lost leadership', s.leader));
    if (change.lostLeadership || change.gainedLeadership) this.sm().expiring.reset();
    if (change.leaderChanged) {
      this.logger.info(s.role === 'leader' ? `raft: became leader in term ${s.term}` : `raft: ${s.leader ? `leader is ${s.leader}` : 'no leader'} in term ${s.term} (this node: ${s.role})`);
    }
  }
}
