/**
 * An in-memory cluster-state store for tests of the HA loop (hashicorp/raft's in-memory stores play
 * the same role). One `MemoryDcsStore` is the "server"; `store.client(name, …)` gives each member
 * its own `Dcs`. TTLs run on an injected clock (a `ManualClock` in tests), so a test moves time and
 * watches keys expire exactly when the clock says, with no sleeping.
 *
 * Key semantics live in memory-store.ts. `setReachable(false)` on a client simulates a partition
 * (calls throw DcsUnavailable).
 */
import { decodeClusterView, decodeStatus, emptyStatus, encodeFailover, encodeFailsafe, encodeHistory, encodeMember, encodeStatus, encodeSyncState } from './codec.js';
import { DcsUnavailable } from './errors.js';
import type { ClusterKeys } from './keys.js';
import { leaseDeadlineMonoMs } from './lease.js';
import type { MemoryKv } from './memory-kv.js';
import { checkRetryTimeout, DEFAULT_RETRY_TIMEOUT_MS, WatchWaits, watchedKeysDiffer, writeWakesWatch } from './store-plumbing.js';
import type {
  ClusterStatus,
  ClusterView,
  Dcs,
  FailoverRequestInput,
  FailsafeTopology,
  LeaseDeadline,
  MemberData,
  SyncStateInput,
  TimelineSwitch,
  WatchOptions,
  WatchResult,
} from './types.js';

export class MemoryDcs implements Dcs {
  private reachable = true;
  private readonly waits = new WatchWaits();
  /** Calls never wait here; kept so the agent's dynamic retry_timeout is checked as on the real stores. */
  private retryTimeoutMs = DEFAULT_RETRY_TIMEOUT_MS;

  constructor(
    readonly store: MemoryKv,
    readonly memberName: string,
    readonly keys: ClusterKeys,
  ) {}

  get retryTimeout(): number {
    return this.retryTimeoutMs;
  }

  setRetryTimeout(ms: number): void {
    this.retryTimeoutMs = checkRetryTimeout(ms);
  }

  async prepareShutdown(): Promise<void> {
    // Nothing runs beside the store here: no leadership to move before the key is released.
  }

  /** Simulate a partition between this member and the store. */
  setReachable(reachable: boolean): void {
    this.reachable = reachable;
  }

  async getCluster(): Promise<ClusterView> {
    this.check('read the cluster state');
    return this.readView();
  }

  async attemptToAcquireLeader(ttlMs: number): Promise<LeaseDeadline> {
    this.check('acquire the leader key');
    const sentAt = this.store.clock.nowMs();
    if (!this.store.set(this.keys.leader, this.memberName, { ttlMs, ifVersion: 0 })) return null;
    return leaseDeadlineMonoMs(sentAt, ttlMs);
  }

  async updateLeader(ttlMs: number, lastLsn: bigint | null, slots: Record<string, bigint> = {}, retainSlots?: readonly string[]): Promise<LeaseDeadline> {
    this.check('update the leader key');
    const sentAt = this.store.clock.nowMs();
    if (!this.store.set(this.keys.leader, this.memberName, { ttlMs, ifValue: this.memberName })) return null;
    if (lastLsn !== null) this.writeStatus({ lastLsn, slots, retainSlots: retainSlots ? [...retainSlots] : this.currentStatus().retainSlots });
    return leaseDeadlineMonoMs(sentAt, ttlMs);
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

  async setFailsafe(topology: FailsafeTopology): Promise<void> {
    this.check('write the failsafe key');
    this.store.set(this.keys.failsafe, encodeFailsafe(topology));
  }

  async deleteCluster(): Promise<void> {
    this.check('delete the cluster');
    this.store.deletePrefix(this.keys.prefix);
  }

  async watch(waitMs: number, options: WatchOptions = {}): Promise<WatchResult> {
    this.check('watch the cluster keys');
    const { signal, view } = options;
    if (signal?.aborted) return 'aborted';
    if (view && watchedKeysDiffer(this.readView(), view)) return 'changed';
    return this.waits.wait({
      waitMs,
      clock: this.store.clock,
      signal,
      subscribe: (wake) =>
        this.store.subscribe((change) => {
          if (writeWakesWatch(this.keys, change.key, change.prev?.value ?? null, change.next?.value ?? null)) wake();
        }),
    });
  }

  async close(): Promise<void> {
    this.waits.close();
  }

  private check(operation: string): void {
    this.waits.assertOpen(operation);
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
}
