/**
 * Client sessions of one node instance. The KV store de-duplicates by (clientId, seq) and answers
 * an older seq with `stale-request`, so each session has at most ONE write outstanding: concurrent
 * writes take different sessions from this pool. A retried write keeps its session and seq, so a
 * write that committed but whose answer was lost is answered from the store's session table.
 */
import { randomBytes } from 'node:crypto';

export interface Session {
  readonly clientId: string;
  seq: number;
}

export class SessionPool {
  private readonly free: Session[] = [];
  private created = 0;
  /** Unique per process incarnation: seq restarts at 1, so an old incarnation's id must not be reused. */
  readonly prefix: string;

  constructor(selfAddr: string) {
    this.prefix = `${selfAddr}/${randomBytes(6).toString('hex')}`;
  }

  /** A session with its next seq reserved for the caller. */
  acquire(): { session: Session; seq: number } {
    const session = this.free.pop() ?? { clientId: `${this.prefix}/${this.created++}`, seq: 0 };
    session.seq += 1;
    return { session, seq: session.seq };
  }

  release(session: Session): void {
    this.free.push(session);
  }

  get size(): number {
    return this.created;
  }
}
