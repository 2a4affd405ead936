/**
 * Protocol types of the pure Raft core. Nothing here does I/O: the node feeds the core ticks,
 * received messages and proposals, and takes back a Ready batch (see core/raft.ts).
 */

/** A member is named by its Raft address, "host:port", as in pysyncobj and Patroni's `raft.self_addr`. */
export type NodeId = string;

export type EntryType = 'normal' | 'config' | 'noop';

export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  /** Opaque to the core for 'normal'; an encoded Membership for 'config'; empty for 'noop'. */
  data: Uint8Array;
}

/** Voting members and non-voting learners (new members catching up before they vote). */
export interface Membership {
  voters: NodeId[];
  learners: NodeId[];
}

/** What must be on disk before any message that depends on it leaves the node. */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

export interface SnapshotMeta {
  /** Last log index and term the snapshot covers. */
  index: number;
  term: number;
  membership: Membership;
}

export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader' | 'learner';

interface MessageBase {
  from: NodeId;
  to: NodeId;
  term: number;
}

export interface VoteRequest extends MessageBase {
  type: 'PreVote' | 'Vote';
  lastLogIndex: number;
  lastLogTerm: number;
  /** Set when the election follows a TimeoutNow (leadership transfer): bypasses the "live leader" check. */
  transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  type: 'PreVoteResp' | 'VoteResp';
  granted: boolean;
}

export interface AppendRequest extends MessageBase {
  type: 'Append';
  prevLogIndex: number;
  prevLogTerm: number;
  entries: Entry[];
  commit: number;
  /** ReadIndex round this heartbeat confirms leadership for (0 = none). */
  readRound: number;
}

export interface AppendResponse extends MessageBase {
  type: 'AppendResp';
  success: boolean;
  /** On success: the follower's last index matching the leader. On reject: a hint where to back off to. */
  matchIndex: number;
  readRound: number;
}

export interface SnapshotChunk extends MessageBase {
  type: 'Snapshot';
  meta: SnapshotMeta;
  offset: number;
  chunk: Uint8Array;
  done: boolean;
}

export interface SnapshotResponse extends MessageBase {
  type: 'SnapshotResp';
  /** Bytes received so far (next expected offset), or -1 to restart the transfer. */
  nextOffset: number;
  /** Snapshot index acknowledged when the last chunk was installed (0 otherwise). */
  installedIndex: number;
}

export interface TimeoutNow extends MessageBase {
  type: 'TimeoutNow';
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | SnapshotChunk
  | SnapshotResponse
  | TimeoutNow;

export type MessageType = Message['type'];

/** A linearizable read may be served once the state machine has applied `index`. */
export interface ReadState {
  requestId: string;
  index: number;
}

export interface SoftState {
  role: Role;
  leader: NodeId | null;
  term: number;
}

/**
 * Output of the core after one or more inputs. The caller must, in this order:
 * 1. persist `entries` (an entry whose index is ≤ the stored last index replaces that suffix),
 *    `hardState` and `snapshot` (when set) durably — one fsync for the batch. A `snapshot` here
 *    was installed from the leader and replaces the whole log: drop every stored entry (not only
 *    those it covers), then append `entries`;
 * 2. send `messages`;
 * 3. apply `committed` to the state machine (and install `snapshot` first when set);
 * 4. call `advance(ready)`.
 */
export interface Ready {
  softState: SoftState;
  hardState: HardState | null;
  entries: Entry[];
  snapshot: Snapshot | null;
  messages: Message[];
  committed: Entry[];
  readStates: ReadState[];
  /** Read requests that cannot be served here (not leader, or leadership lost): fail or retry them. */
  failedReads: string[];
}

export interface RaftConfig {
  id: NodeId;
  /** Ticks between heartbeats (node default: 2 ticks of 50 ms = 100 ms). */
  heartbeatTicks: number;
  /** Election timeout is drawn uniformly from [min, max) ticks (node default 8..28 = 400..1400 ms). */
  electionTicksMin: number;
  electionTicksMax: number;
  /** Deterministic randomness in [0, 1): the simulator seeds it. */
  random: () => number;
  /** Most entries in one Append message. */
  maxEntriesPerAppend: number;
  /** Most entry bytes in one Append (at least one entry is always sent); unlimited when absent. */
  maxAppendBytes?: number;
  /** Most unacknowledged Append messages per follower (pipelining). */
  maxInflightAppends: number;
  /** Snapshot chunk size in bytes. */
  snapshotChunkBytes: number;
  /** A learner is promoted to voter once it is within this many entries of the leader's log. */
  catchUpEntries: number;
}

/** What the node restores the core from after a restart. */
export interface RaftInitialState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Entries after the snapshot, in order. */
  entries: Entry[];
  /** Membership to use when neither the snapshot nor the log carries one (a brand-new cluster). */
  bootstrapMembership: Membership;
}
