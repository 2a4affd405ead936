/**
 * Who leads, as this node last learned from a Ready batch: role, leader and term, the events
 * fired when they change, and bounded waits for a leader (used by the forwarding loop and by
 * leadership transfer).
 */
import { EventEmitter } from 'node:events';
import type { Role, SoftState } from '../core/types.js';

export interface LeaderChange {
  leader: string | null;
  term: number;
  role: Role;
  isLeader: boolean;
}

export interface SoftStateChange {
  /** This node stopped leading (waiting writes must be failed; expiry plans reset). */
  lostLeadership: boolean;
  /** This node became leader. */
  gainedLeadership: boolean;
  /** The leader or this node's leadership changed: worth a log line and an event. */
  leaderChanged: boolean;
}

export class LeaderWatch {
  role: Role = 'follower';
  leader: string | null = null;
  term = 0;
  private readonly events = new EventEmitter();

  constructor() {
    this.events.setMaxListeners(0);
  }

  /** Takes the soft state of a Ready batch; emits 'leader' when the leader or our leadership changed. */
  note(s: SoftState): SoftStateChange | null {
    if (s.role === this.role && s.leader === this.leader && s.term === this.term) return null;
    const wasLeader = this.role === 'leader';
    const isLeader = s.role === 'leader';
    const leaderChanged = s.leader !== this.leader || wasLeader !== isLeader;
    this.role = s.role;
    this.leader = s.leader;
    this.term = s.term;
    if (leaderChanged) {
      const change: LeaderChange = { leader: s.leader, term: s.term, role: s.role, isLeader };
      this.events.emit('leader', change);
    }
    return { lostLeadership: wasLeader && !isLeader, gainedLeadership: isLeader && !wasLeader, leaderChanged };
  }

  onLeaderChange(listener: (change: LeaderChange) => void): () => void {
    this.events.on('leader', listener);
    return () => this.events.off('leader', listener);
  }

  /** Resolves when some leader is known, or after timeoutMs. */
  waitForLeader(timeoutMs: number): Promise<void> {
    if (this.leader !== null) return new Promise((resolve) => setTimeout(resolve, Math.min(timeoutMs, 10)));
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, timeoutMs));
      const off = this.onLeaderChange((c) => {
        if (c.leader !== null) finish();
      });
    });
  }

  /**
   * Resolves with the new leader once it differs from `from` (and equals `want` when given), or with
   * the current leader when timeoutMs passes.
   */
  waitForLeaderChange(from: string | null, timeoutMs: number, want?: string): Promise<string | null> {
    return new Promise((resolve) => {
      const finish = (leader: string | null) => {
        clearTimeout(timer);
        off();
        resolve(leader);
      };
      const timer = setTimeout(() => finish(this.leader), Math.max(0, timeoutMs));
      const off = this.onLeaderChange((c) => {
        if (c.leader !== null && c.leader !== from && (want === undefined || c.leader === want)) finish(c.leader);
      });
    });
  }
}
