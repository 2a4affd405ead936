/**
 * An in-memory cluster-state store for tests of the HA loop (hashicorp/raft's in-memory stores play
 * the same role). One `MemoryDcsStore` is the "server"; `store.client(name, …)` gives each member
 * its own `Dcs`. TTLs run on an injected clock (a `ManualClock` in tests), so a test moves time and
 * watches keys expire exactly when the clock says, with no sleeping.
 *
 * Key semantics live in memory-store.ts. `setReachable(false)` on a client simulates a partition
 * (calls throw DcsUnavailable).
 */
import { decodeClusterView, decodeStatus, emptyStatus, encodeFailover, encodeHistory, encodeMember, encodeStatus, encodeSyncState } from './codec.js';
import { DcsError, DcsUnavailable } from './errors.js';
import type { ClusterKeys } from './keys.js';
import type { MemoryDcsStore, MemoryKeyChange } from './memory-store.js';
import type {
  ClusterStatus,
  ClusterView,
  Dcs,
  FailoverRequest,
  FailoverRequestInput,
  MemberData,
  SyncStateInput,
  TimelineSwitch,
  WatchOptions,
  WatchResult,
} from './types.js';

export class MemoryDcs implements Dcs {
  private reachable = true;
  private closed = false;
  private readonly pendingWatches = new Set<(result: WatchResult) => void>();

  constructor(
    readonly store: MemoryDcsStore,
    readonly memberName: string,
    readonly keys: ClusterKeys,
  ) {}

  /** Simulate a partition between this member and the store. */
  setReachable(reachable: boolean): void {
    this.reachable = reachable;
  }

  async getCluster(): Promise<ClusterView> {
    this.check('read the cluster state');
    return this.readView();
  }

  async attemptToAcquireLeader(ttlMs: number): Promise<boolean> {
    this.check('acquire the leader key');
    return this.store.set(this.keys.leader, this.memberName, { ttlMs, ifVersion: 0 });
  }

  async updateLeader(ttlMs: number, lastLsn: bigint | null, slots: Record<string, bigint> = {}): Promise<boolean> {
    this.check('update the leader key');
    if (!this.store.set(this.keys.leader, this.memberName, { ttlMs, ifValue: this.memberName })) return false;
    if (lastLsn !== null) this.writeStatus({ lastLsn, slots, retainSlots: this.currentStatus().retainSlots });
    return true;
  }

  async deleteLeader(lastLsn: bigint | null = null): Promise<boolean> {
    this.check('delete the leader key');
    if (lastLsn !== null && this.store.get(this.keys.leader)?.value === this.memberName) {
      this.writeStatus({ ...this.currentStatus(), lastLsn });
    }
    return this.store.delete(this.keys.leader, { ifValue: this.memberName });
  }

  async touchMember(data: MemberData, ttlMs: number): Promise<void> {
    this.check('update the member key');
    this.store.set(this.keys.member(this.memberName), encodeMember(data), { ttlMs });
  }

  async initialize(systemIdentifier: string, options: { create: boolean }): Promise<boolean> {
    this.check('write the initialize key');
    return this.store.set(this.keys.initialize, systemIdentifier, options.create ? { ifVersion: 0 } : {});
  }

  async cancelInitialization(): Promise<void> {
    this.check('delete the initialize key');
    this.store.delete(this.keys.initialize);
  }

  async setConfig(data: Record<string, unknown>, ifVersion?: number): Promise<boolean> {
    this.check('write the config key');
    return this.store.set(this.keys.config, JSON.stringify(data), { ifVersion });
  }

  async setFailover(request: FailoverRequestInput, ifVersion?: number): Promise<boolean> {
    this.check('write the failover key');
    return this.store.set(this.keys.failover, encodeFailover(request), { ifVersion });
  }

  async deleteFailover(ifVersion?: number): Promise<boolean> {
    this.check('delete the failover key');
    return this.store.delete(this.keys.failover, { ifVersion });
  }

  async setHistory(lines: readonly TimelineSwitch[]): Promise<void> {
    this.check('write the history key');
    this.store.set(this.keys.history, encodeHistory(lines));
  }

  async setSyncState(state: SyncStateInput, ifVersion?: number): Promise<boolean> {
    this.check('write the sync key');
    return this.store.set(this.keys.sync, encodeSyncState(state), { ifVersion });
  }

  async deleteSyncState(ifVersion?: number): Promise<boolean> {
    this.check('delete the sync key');
    return this.store.delete(this.keys.sync, { ifVersion });
  }

  async setStatus(status: ClusterStatus): Promise<void> {
    this.check('write the status key');
    this.writeStatus(status);
  }

  async deleteCluster(): Promise<void> {
    this.check('delete the cluster');
    this.store.deletePrefix(this.keys.prefix);
  }

  async watch(waitMs: number, options: WatchOptions = {}): Promise<WatchResult> {
    this.check('watch the cluster keys');
    const { signal, view } = options;
    if (signal?.aborted) return 'aborted';
    if (view && this.watchedKeysDiffer(view)) return 'changed';
    return new Promise<WatchResult>((resolve) => {
      let done = false;
      const finish = (result: WatchResult): void => {
        if (done) return;
        done = true;
        unsubscribe();
        cancelTimer();
        signal?.removeEventListener('abort', onAbort);
        this.pendingWatches.delete(finish);
        resolve(result);
      };
      const onAbort = (): void => finish('aborted');
      const unsubscribe = this.store.subscribe((change) => {
        if (this.wakesWatch(change)) finish('changed');
      });
      const cancelTimer = this.store.clock.setTimer(waitMs, () => finish('timeout'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pendingWatches.add(finish);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const finish of [...this.pendingWatches]) finish('aborted');
  }

  private check(operation: string): void {
    if (this.closed) throw new DcsError(`cannot ${operation}: the DCS client is closed`);
    if (!this.reachable) throw new DcsUnavailable(operation);
  }

  private readView(): ClusterView {
    const entries = this.store.list(this.keys.prefix).map(({ key, entry }) => ({ key, value: entry.value, version: entry.version }));
    return decodeClusterView(this.keys, entries, this.store.get(this.keys.leader)?.expiresInMs ?? null);
  }

  private currentStatus(): ClusterStatus {
    const status = this.store.get(this.keys.status);
    return status ? decodeStatus(status.value) : emptyStatus();
  }

  private writeStatus(status: ClusterStatus): void {
    this.store.set(this.keys.status, encodeStatus(status));
  }

  private watchedKeysDiffer(view: ClusterView): boolean {
    const now = this.readView();
    return (
      now.leader?.name !== view.leader?.name ||
      now.initialize !== view.initialize ||
      now.config?.keyVersion !== view.config?.keyVersion ||
      !sameFailover(now.failover, view.failover)
    );
  }

  private wakesWatch(change: MemoryKeyChange): boolean {
    const k = this.keys;
    if (change.key === k.leader) {
      // A renewal by the same holder is not news; a new holder, a delete or an expiry is.
      return change.prev === null || change.next === null || change.prev.value !== change.next.value;
    }
    return change.key === k.failover || change.key === k.config || change.key === k.initialize;
  }
}

function sameFailover(a: FailoverRequest | null, b: FailoverRequest | null): boolean {
  if (a === null || b === null) return a === b;
  return a.keyVersion === b.keyVersion;
}
