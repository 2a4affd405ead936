import type { Membership, NodeId } from './types.js';

/**
 * Membership is effective when appended (Raft dissertation §4.1), not when applied as in etcd: a
 * server uses the latest config entry in its log, committed or not. Single-server changes keep any
 * two consecutive configs' majorities overlapping; the leader appends a new change only after the
 * previous one committed and after it committed an entry of its own term (the dissertation's fix for
 * the change-during-leader-change bug). An uncommitted config entry removed by log truncation
 * reverts to the config before it, which is why the tracker keeps every config entry still in the log.
 */
export class ConfigTracker {
  private baseIndex: number;
  private base: Membership;
  /** Config entries after the base, ascending index. */
  private inLog: { index: number; membership: Membership }[] = [];

  constructor(baseIndex: number, base: Membership) {
    this.baseIndex = baseIndex;
    this.base = base;
  }

  current(): Membership {
    return this.inLog.length > 0 ? this.inLog[this.inLog.length - 1]!.membership : this.base;
  }

  /** Log index of the entry carrying the current config (the snapshot index or 0 for the base). */
  currentIndex(): number {
    return this.inLog.length > 0 ? this.inLog[this.inLog.length - 1]!.index : this.baseIndex;
  }

  /** The config in force at a log index (what a snapshot taken there must carry). */
  at(index: number): Membership {
    for (let i = this.inLog.length - 1; i >= 0; i--) {
      if (this.inLog[i]!.index <= index) return this.inLog[i]!.membership;
    }
    return this.base;
  }

  appended(index: number, membership: Membership): void {
    this.inLog.push({ index, membership });
  }

  /** Entries ≥ index were truncated from the log. */
  truncateFrom(index: number): void {
    while (this.inLog.length > 0 && this.inLog[this.inLog.length - 1]!.index >= index) this.inLog.pop();
  }

  /** Entries ≤ index are now covered by a snapshot. */
  compactTo(index: number): void {
    const m = this.at(index);
    this.inLog = this.inLog.filter((c) => c.index > index);
    this.base = m;
    this.baseIndex = index;
  }

  reset(index: number, membership: Membership): void {
    this.inLog = [];
    this.base = membership;
    this.baseIndex = index;
  }
}

export function isVoter(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id);
}

export function isMember(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id) || m.learners.includes(id);
}

export function quorum(m: Membership): number {
  return Math.floor(m.voters.length / 2) + 1;
}
