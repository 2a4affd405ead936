import type { NodeId } from './types.js';

/**
 * How the leader replicates to one peer (etcd-io/raft's three states):
 * - probe: next is a guess; one Append at a time until the follower confirms where logs match;
 * - replicate: logs match at `match`; Appends are pipelined optimistically up to the inflight limit;
 * - snapshot: the follower needs entries we compacted; InstallSnapshot chunks are being sent.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe: an Append is outstanding; wait for its answer or the next heartbeat before resending. */
  probeSent = false;
  /** Replicate: last index of each unacknowledged Append, oldest first (≤ maxInflightAppends long). */
  inflight: number[] = [];
  /** Heard from since the last check-quorum round. */
  recentActive = true;
  /** Commit index last sent, so a commit advance alone still reaches an idle follower. */
  sentCommit = 0;
  /** Highest ReadIndex round this peer has answered. */
  readRound = 0;
  /** Snapshot: the index of the snapshot being sent and the next byte the follower expects. */
  snapshotIndex = 0;
  snapshotOffset = 0;

  constructor(
    readonly id: NodeId,
    next: number,
  ) {
    this.next = next;
  }

  becomeProbe(): void {
    this.state = 'probe';
    this.next = this.match + 1;
    this.inflight = [];
    this.probeSent = false;
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.inflight = [];
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.snapshotIndex = index;
    this.snapshotOffset = 0;
    this.inflight = [];
  }

  /** A follower confirmed its log matches ours up to index. Returns whether match moved. */
  acknowledge(index: number): boolean {
    let moved = false;
    if (index > this.match) {
      this.match = index;
      moved = true;
    }
    if (this.next <= index) this.next = index + 1;
    let freed = 0;
    while (freed < this.inflight.length && this.inflight[freed]! <= index) freed++;
    if (freed > 0) this.inflight.splice(0, freed);
    this.probeSent = false;
    return moved;
  }

  /** Whether an Append carrying entries may be sent now. */
  canSendEntries(maxInflight: number): boolean {
    if (this.state === 'probe') return !this.probeSent;
    if (this.state === 'replicate') return this.inflight.length < maxInflight;
    return false;
  }
}
