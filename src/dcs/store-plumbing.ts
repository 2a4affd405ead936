/**
 * What every `Dcs` implementation (memory.ts, raft.ts, etcd3.ts) shares, written once: the
 * retry_timeout default and check, the wake-up rule of `watch`, and the wait itself (a promise
 * that ends on a wake, a timeout on the store's clock, an abort, or `close()`).
 */
import type { ClusterKeys } from './keys.js';
import type { DcsClock } from './clock.js';
import { DcsError } from './errors.js';
import type { ClusterView, WatchResult } from './types.js';
import type { Logger } from '../raft/kv/types.js';

/** Patroni's default retry_timeout (dynamic config), used until the agent sets the cluster's. */
export const DEFAULT_RETRY_TIMEOUT_MS = 10_000;

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export function checkRetryTimeout(ms: number): number {
  if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`retry_timeout must be a positive number of ms, got ${ms}`);
  return ms;
}

/** The keys a `watch` wakes for: the leader key, `initialize`, `config`, `failover`. */
export function watchedKeys(k: ClusterKeys): string[] {
  return [k.leader, k.initialize, k.config, k.failover];
}

export function isWatchedKey(k: ClusterKeys, key: string): boolean {
  return key === k.leader || key === k.initialize || key === k.config || key === k.failover;
}

/**
 * The wake-up rule for one write of a watched key (null holder = absent before / deleted or
 * expired after). A renewal by the same holder happens every loop and is not news: waking for it
 * would turn the loop's sleep into a busy loop. A new holder, a delete or an expiry is, and so is
 * any write of the other watched keys.
 */
export function writeWakesWatch(k: ClusterKeys, key: string, before: string | null, after: string | null): boolean {
  if (key === k.leader) return before === null || after === null || before !== after;
  return isWatchedKey(k, key);
}

/** Whether the watched keys of `now` differ from those of `view` (a change between the read and the watch). */
export function watchedKeysDiffer(now: ClusterView, view: ClusterView): boolean {
  return (
    now.leader?.name !== view.leader?.name ||
    now.initialize !== view.initialize ||
    now.config?.keyVersion !== view.config?.keyVersion ||
    now.failover?.keyVersion !== view.failover?.keyVersion
  );
}

export interface WaitForWake {
  waitMs: number;
  clock: DcsClock;
  signal?: AbortSignal;
  /** Start listening; call `wake()` on news; return how to stop listening. */
  subscribe(wake: () => void): () => void;
  /** Checked once after subscribing: a change that landed before the listener existed. */
  alreadyChanged?(): boolean;
}

/**
 * The open/closed state of one store client and its pending watches: `close()` ends every pending
 * wait with `aborted`, and every operation afterwards throws.
 */
export class WatchWaits {
  private closedFlag = false;
  private readonly pending = new Set<(result: WatchResult) => void>();

  get closed(): boolean {
    return this.closedFlag;
  }

  assertOpen(operation: string): void {
    if (this.closedFlag) throw new DcsError(`cannot ${operation}: the DCS client is closed`);
  }

  /** Ends with `changed` on a wake, `timeout` after waitMs on the clock, `aborted` on the signal or close(). */
  wait(options: WaitForWake): Promise<WatchResult> {
    const { waitMs, clock, signal } = options;
    if (signal?.aborted) return Promise.resolve('aborted');
    return new Promise<WatchResult>((resolve) => {
      let done = false;
      let unsubscribe: () => void = () => {};
      let cancelTimer: () => void = () => {};
      const finish = (result: WatchResult): void => {
        if (done) return;
        done = true;
        unsubscribe();
        cancelTimer();
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(finish);
        resolve(result);
      };
      const onAbort = (): void => finish('aborted');
      // Subscribe before looking at current state, so a change in between is never missed.
      unsubscribe = options.subscribe(() => finish('changed'));
      if (done) {
        unsubscribe();
        return;
      }
      cancelTimer = clock.setTimer(waitMs, () => finish('timeout'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.add(finish);
      if (options.alreadyChanged?.()) finish('changed');
    });
  }

  close(): void {
    this.closedFlag = true;
    for (const finish of [...this.pending]) finish('aborted');
  }
}
