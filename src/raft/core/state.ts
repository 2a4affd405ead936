import { decodeMembership } from '../codec/entry.js';
import { RaftLog } from './log.js';
import { ConfigTracker, isVoter } from './membership.js';
import type { Progress } from './progress.js';
import type {
  Entry,
  HardState,
  Membership,
  Message,
  NodeId,
  RaftConfig,
  RaftInitialState,
  ReadState,
  Ready,
  Snapshot,
  SnapshotMeta,
} from './types.js';

export type InternalRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/**
 * What replication calls when a follower made progress or the commit index moved (membership
 * promotions, leadership transfer, released reads). Installed by RaftCore, so that replication.ts
 * and membership-change.ts, which need each other's effects, do not import each other.
 */
export interface ProgressHooks {
  afterFollowerProgress(s: RaftState, from: NodeId, pr: Progress): void;
  afterCommit(s: RaftState): void;
}

/** A ReadIndex request waiting for a quorum to confirm leadership in round `round`. */
export interface PendingRead {
  id: string;
  index: number;
  round: number;
}

/**
 * The mutable state of one Raft server, shared by election.ts, replication.ts, reads.ts and
 * membership-change.ts. Only RaftCore (raft.ts) is public; this is the inside of it.
 */
export class RaftState {
  readonly id: NodeId;
  readonly cfg: RaftConfig;
  hooks: ProgressHooks = { afterFollowerProgress() {}, afterCommit() {} };

  term: number;
  vote: NodeId | null;
  commit: number;
  applied: number;
  role: InternalRole = 'follower';
  leader: NodeId | null = null;

  log: RaftLog;
  configs: ConfigTracker;
  /** Highest index known durable (confirmed by advance()); the leader counts only this for itself. */
  stableIndex: number;
  /** First index not yet handed out in a Ready. */
  unstableFrom: number;
  /** Latest snapshot held (sent to followers that fell behind compaction). */
  snapshot: Snapshot | null;
  /** Snapshot installed from the leader, to hand out in the next Ready. */
  pendingSnapshot: Snapshot | null = null;
  incomingSnapshot: { meta: SnapshotMeta; chunks: Uint8Array[]; received: number } | null = null;

  emittedHardState: HardState;
  persistedHardState: HardState;
  inFlightReady: Ready | null = null;

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  votes = new Map<NodeId, boolean>();

  progress = new Map<NodeId, Progress>();
  leadTransferee: NodeId | null = null;
  transferElapsed = 0;
  /** A node being caught up as learner before it is promoted to voter (leader only, volatile). */
  pendingPromotion: NodeId | null = null;
  /** Leader: new entries or commit to push to followers when the next Ready is built. */
  needBroadcast = false;

  persistHealthy = true;
  /**
   * False while the member is being recovered (`hactl raft recover`): its log was lost, so it must
   * neither campaign nor grant votes until the leader has caught it up and promoted it again.
   */
  canVote = true;
  lastStepDownReason: string | null = null;

  msgs: Message[] = [];
  readStates: ReadState[] = [];
  failedReads: string[] = [];
  reads: PendingRead[] = [];
  readsBeforeCommit: string[] = [];
  readRound = 0;
  needReadHeartbeat = false;

  constructor(cfg: RaftConfig, initial: RaftInitialState) {
    this.id = cfg.id;
    this.cfg = cfg;
    const snap = initial.snapshot;
    const snapIndex = snap?.meta.index ?? 0;
    const snapTerm = snap?.meta.term ?? 0;
    this.log = new RaftLog(
      snapIndex,
      snapTerm,
      initial.entries.filter((e) => e.index > snapIndex),
    );
    this.configs = new ConfigTracker(snapIndex, snap?.meta.membership ?? initial.bootstrapMembership);
    for (let i = this.log.firstIndex; i <= this.log.lastIndex; i++) {
      const e = this.log.entry(i)!;
      if (e.type === 'config') this.configs.appended(e.index, decodeMembership(e.data));
    }
    this.snapshot = snap;
    const hs = initial.hardState;
    this.term = hs.term;
    this.vote = hs.vote;
    // A commit index persisted ahead of a torn log tail must not point past what survived.
    this.commit = Math.min(Math.max(hs.commit, snapIndex), this.log.lastIndex);
    this.applied = snapIndex;
    this.stableIndex = this.log.lastIndex;
    this.unstableFrom = this.log.lastIndex + 1;
    this.emittedHardState = { ...hs };
    this.persistedHardState = { ...hs };
  }

  membership(): Membership {
    return this.configs.current();
  }

  isVoter(): boolean {
    return isVoter(this.membership(), this.id);
  }

  /** Other members (voters and learners) the leader replicates to. */
  peers(): NodeId[] {
    const m = this.membership();
    return [...m.voters, ...m.learners].filter((n) => n !== this.id);
  }

  send(msg: Message): void {
    this.msgs.push(msg);
  }

  resetElectionTimer(): void {
    this.electionElapsed = 0;
    const { electionTicksMin: lo, electionTicksMax: hi } = this.cfg;
    this.randomizedElectionTimeout = lo + Math.floor(this.cfg.random() * Math.max(1, hi - lo));
  }

  appendEntry(e: Entry): void {
    this.log.append(e);
    if (e.type === 'config') this.configs.appended(e.index, decodeMembership(e.data));
  }

  /** Drop a conflicting uncommitted suffix after index; configs in it revert. */
  truncateAfter(index: number): void {
    if (index < this.commit) throw new Error(`raft: refusing to truncate committed entries (${index} < ${this.commit})`);
    this.log.truncateAfter(index);
    this.configs.truncateFrom(index + 1);
    if (this.stableIndex > index) this.stableIndex = index;
    if (this.unstableFrom > index + 1) this.unstableFrom = index + 1;
  }

  commitTo(index: number): boolean {
    if (index <= this.commit) return false;
    this.commit = Math.min(index, this.log.lastIndex);
    return true;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.commit };
  }
}

export function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
