/**
 * "Do it here if I lead, else ask the leader": the one loop behind writes, reads, membership
 * changes and transfers. It waits for a leader when none is known, never forwards a request that
 * was itself forwarded (two members with stale views must not bounce it between them), and
 * stops at the caller's deadline with RaftTimeout naming the last error seen.
 */
import type { RpcPayload } from '../transport/types.js';
import { errorMessage, RaftRequestDenied, RaftStopped, RaftStorageError, RaftTimeout } from './errors.js';
import { RaftNotLeader, type RaftRequest } from './rpc.js';

/** What the loop needs to know about the node it runs on. */
export interface LeaderView {
  readonly selfAddr: string;
  now(): number;
  readonly isLeader: boolean;
  readonly leader: string | null;
  assertRunning(): void;
  /** Resolves once some leader is known, or after `ms`. */
  waitForLeader(ms: number): Promise<void>;
  /** Resolves with the new leader once it differs from `from` (and is `want` when given), or the current one after `ms`. */
  waitForLeaderChange(from: string | null, ms: number, want?: string): Promise<string | null>;
  /** One request to another member's port. */
  request(addr: string, req: RaftRequest, timeoutMs: number): Promise<RpcPayload>;
}

export interface Forwarded<T> {
  /** For messages: "write to key /x", "add 10.0.0.4:5010". */
  what: string;
  deadline: number;
  /** The request came from another member: serve it here or fail, never pass it on. */
  forwarded: boolean;
  /** Run on the leader; may throw RaftNotLeader when leadership is lost meanwhile. */
  here(remainingMs: number): Promise<T>;
  /** The same request for the leader (with `forwarded: true`). */
  request(remainingMs: number): RaftRequest;
  /** Decode the leader's reply (throws the rebuilt error of a failed one). */
  reply(payload: RpcPayload): T;
  /**
   * After a failed call to the leader: wait for news and try again (writes and reads keep their
   * idempotency key, so a retry is safe), or give up with the error (admin requests).
   */
  retry: boolean;
  /** A result known without asking, given the current leader (transfer to the leader itself). */
  shortcut?(leader: string): T | null;
  /** Text added to the timeout message (e.g. that a write may or may not have been applied). */
  timeoutNote?: string;
}

/** Errors a retry cannot fix: the leader refused, cannot persist, or this node is stopping. */
function final(err: unknown): boolean {
  return err instanceof RaftStorageError || err instanceof RaftRequestDenied || err instanceof RaftStopped;
}

export async function forwardToLeader<T>(node: LeaderView, f: Forwarded<T>): Promise<T> {
  let lastError: unknown = null;
  for (let attempt = 0; ; attempt++) {
    node.assertRunning();
    const remaining = f.deadline - node.now();
    if (remaining <= 0) {
      const last = lastError ? ` (last error: ${errorMessage(lastError)})` : '';
      throw new RaftTimeout(`${f.what} not confirmed within the deadline${last}${f.timeoutNote ?? ''}`);
    }
    if (node.isLeader) {
      try {
        return await f.here(remaining);
      } catch (err) {
        if (!(err instanceof RaftNotLeader) || f.forwarded) throw err;
        lastError = err;
        continue;
      }
    }
    if (f.forwarded) throw new RaftNotLeader(`raft node ${node.selfAddr} is not the leader`, node.leader);
    const leader = node.leader;
    if (leader === null || leader === node.selfAddr) {
      await node.waitForLeader(Math.min(remaining, 100));
      continue;
    }
    const known = f.shortcut?.(leader) ?? null;
    if (known !== null) return known;
    try {
      return f.reply(await node.request(leader, f.request(remaining), remaining + 50));
    } catch (err) {
      if (!f.retry || final(err)) throw err;
      lastError = err;
      // Leader moved, died or timed out: wait for news (or a little) and retry.
      await node.waitForLeaderChange(leader, Math.min(f.deadline - node.now(), 20 * (attempt + 1)));
    }
  }
}
