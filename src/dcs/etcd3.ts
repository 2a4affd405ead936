/**
 * The cluster-state store on an external etcd v3 cluster (issue 8), for sites that already run etcd
 * or share one store between many database clusters. Same key layout and values as the Raft store
 * (keys.ts, codec.ts); etcd's primitives underneath:
 *
 * - TTL keys are leased, ONE LEASE PER KEY: the leader key and this member's key each have their
 *   own. Patroni shares one lease between both, so a member touch renews the leader key too; here a
 *   primary whose loop stops renewing the leader key loses it after ttl even while it keeps
 *   publishing its member key, exactly as with the memory and Raft stores. A renewal keeps the
 *   lease alive (one keepalive) and rewrites the key on it in a transaction that checks holder and
 *   lease; a ttl change (or a lease we do not know, e.g. after a restart) grants a new lease.
 * - Compare-and-set and the leader race are transactions on create_revision (0 = absent) and
 *   mod_revision; a key version is its mod_revision.
 * - Reads are linearizable (`serializable: false`: served through etcd's leader with quorum).
 * - `watch` is an etcd watch on the cluster prefix starting right after the revision of the view,
 *   so a change between `getCluster` and `watch` is replayed, never slept through.
 *
 * Leases. The holder's belief in the leader key is `holderDeadlineMs(sentAt, ttl)`, counted from the
 * moment the keepalive or lease grant was SENT (as RaftDcs): etcd's leader renews a lease to its
 * TTL when it receives the request (later), lease TTLs are whole seconds rounded UP, and a new etcd
 * leader restarts every lease's TTL — so etcd never expires the key before the holder stops
 * believing in it. A call whose outcome is unknown never extends the belief.
 *
 * Every call is bounded by retry_timeout; etcd and transport failures become `DcsUnavailable`
 * naming the endpoints ("etcd is not accessible: 127.0.0.1:2379: could not …"). Within the bound a
 * call moves to another member when the one it tried is down (see `retryable`).
 */
import type { Etcd3, ICompare, IKeyValue, IOptions, IRequestOp, ITxnResponse } from 'etcd3';
import { systemClock, type DcsClock } from './clock.js';
import { decodeClusterView, decodeStatus, emptyStatus, encodeFailover, encodeHistory, encodeMember, encodeStatus, encodeSyncState } from './codec.js';
import { withRetryTimeout } from './deadline.js';
import { DcsError, DcsUnavailable } from './errors.js';
import { etcd3Connection, type Etcd3Connection, type Etcd3Section } from './etcd3-section.js';
import { etcdEventWakesWatch, watchedKeysDiffer } from './etcd3-watch.js';
import { clusterKeys, type ClusterKeys } from './keys.js';
import type { ClusterStatus, ClusterView, Dcs, FailoverRequestInput, MemberData, SyncStateInput, TimelineSwitch, WatchOptions, WatchResult } from './types.js';
import { holderDeadlineMs, type Logger } from '../raft/kv/index.js';

export type Etcd3Module = typeof import('etcd3');
export type { Etcd3Section } from './etcd3-section.js';

export interface Etcd3DcsOptions {
  memberName: string;
  scope: string;
  namespace: string;
  retryTimeoutMs?: number;
  /** Monotonic, and the same clock the HA loop reads: lease deadlines are on it. */
  clock?: DcsClock;
  logger?: Logger;
}

/** A lease this client granted, and the ttl it was granted for. */
interface HeldLease {
  id: string;
  ttlMs: number;
}

/** Patroni's default retry_timeout, as in raft.ts (not imported from there: that would load the Raft node). */
const DEFAULT_RETRY_TIMEOUT_MS = 10_000;

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

/** gRPC said the request never reached a member: safe to send elsewhere even when not idempotent. */
const NOT_SENT = /No connection established|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|failed to connect|Name resolution failed|etcdserver: no leader|circuit breaker is open/i;

export class Etcd3Dcs implements Dcs {
  readonly memberName: string;
  readonly keys: ClusterKeys;
  readonly endpoints: readonly string[];
  private readonly client: Etcd3;
  private retryTimeoutMs: number;
  private readonly clock: DcsClock;
  private readonly logger: Logger;
  private closed = false;
  private leaseDeadline: number | null = null;
  private leaderLease: HeldLease | null = null;
  private memberLease: HeldLease | null = null;
  /** `status` as last read or written: a renewal republishes its retain_slots without a read. */
  private lastStatus: ClusterStatus = emptyStatus();
  /** etcd revision each view returned by this client was read at, so `watch(view)` replays from it. */
  private readonly viewRevisions = new WeakMap<ClusterView, bigint>();
  private readonly pendingWatches = new Set<(result: WatchResult) => void>();

  constructor(
    private readonly lib: Etcd3Module,
    connection: Etcd3Connection,
    options: Etcd3DcsOptions,
  ) {
    this.memberName = options.memberName;
    this.keys = clusterKeys(options.namespace, options.scope);
    this.keys.member(options.memberName); // validates the name
    this.endpoints = connection.endpoints;
    this.retryTimeoutMs = checkRetryTimeout(options.retryTimeoutMs ?? DEFAULT_RETRY_TIMEOUT_MS);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silent;
    // The library's own retries would resend a conditional write whose outcome is unknown and then
    // report the lost compare as a lost race; `call` decides what may be sent again instead.
    const noRetry = { execute: <T>(fn: (context: { signal: AbortSignal }) => Promise<T>) => fn({ signal: new AbortController().signal }) };
    this.client = new lib.Etcd3({
      ...connection.clientOptions,
      // Unary calls get a share of retry_timeout each, so a member that never answers leaves time to try another.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + this.attemptTimeoutMs() }),
      faultHandling: { global: noRetry as unknown as NonNullable<IOptions['faultHandling']>['global'] },
    });
  }

  /** retry_timeout is dynamic configuration: the agent passes the cluster's value after each read of `config`. */
  setRetryTimeout(ms: number): void {
    this.retryTimeoutMs = checkRetryTimeout(ms);
  }

  /**
   * Monotonic ms (on the injected clock) until which the last CONFIRMED acquire/renewal lets this
   * member believe it holds the leader key; null when it does not (never acquired, lost, released).
   */
  get leaseDeadlineMonoMs(): number | null {
    return this.leaseDeadline;
  }

  async getCluster(): Promise<ClusterView> {
    const res = await this.run('read the cluster state', (signal) =>
      this.call(signal, true, () => this.client.kv.range({ key: buf(this.keys.prefix), range_end: prefixEnd(this.keys.prefix), serializable: false })),
    );
    const view = this.decodeView(res.kvs);
    this.viewRevisions.set(view, BigInt(res.header.revision));
    this.lastStatus = view.status;
    return view;
  }

  async attemptToAcquireLeader(ttlMs: number): Promise<boolean> {
    return (await this.acquireLeaderLease(ttlMs)) !== null;
  }

  /** Create-if-absent on a new lease; the lease deadline (holder's clock) when this call created the key, else null. */
  async acquireLeaderLease(ttlMs: number): Promise<number | null> {
    const sentAt = this.clock.nowMs();
    const lease = await this.run('acquire the leader key', async (signal) => {
      const fresh = await this.grant(signal, ttlMs);
      const res = await this.txn(signal, [this.absent(this.keys.leader)], [this.putOp(this.keys.leader, this.memberName, fresh.id)]);
      if (res.succeeded) return fresh;
      this.revokeQuietly(fresh.id);
      return null;
    });
    if (lease === null) return null;
    if (this.leaderLease && this.leaderLease.id !== lease.id) this.revokeQuietly(this.leaderLease.id);
    this.leaderLease = lease;
    this.leaseDeadline = holderDeadlineMs(sentAt, ttlMs);
    return this.leaseDeadline;
  }

  async updateLeader(ttlMs: number, lastLsn: bigint | null, slots: Record<string, bigint> = {}): Promise<boolean> {
    return (await this.renewLeaderLease(ttlMs, lastLsn, slots)) !== null;
  }

  /**
   * Renew with ttl if the key still holds our name; the new lease deadline, or null when the key is
   * gone or held by someone else. `status` goes into the same transaction, so it is published by
   * the holder only (and costs no extra round trip).
   */
  async renewLeaderLease(ttlMs: number, lastLsn: bigint | null, slots: Record<string, bigint> = {}): Promise<number | null> {
    const sentAt = this.clock.nowMs();
    const statusOps = lastLsn === null ? [] : [this.putOp(this.keys.status, encodeStatus({ lastLsn, slots, retainSlots: this.lastStatus.retainSlots }))];
    const lease = await this.run('update the leader key', async (signal) => {
      const held = this.leaderLease;
      if (held && held.ttlMs === ttlMs && (await this.keepAlive(signal, held.id))) {
        const res = await this.txn(
          signal,
          [this.holds(this.keys.leader, this.memberName), { key: buf(this.keys.leader), target: 'Lease', result: 'Equal', lease: held.id }],
          [this.putOp(this.keys.leader, this.memberName, held.id), ...statusOps],
          [{ request_range: { key: buf(this.keys.leader) } }],
        );
        if (res.succeeded) return held;
        // Our name on another lease (a grant whose answer we missed): move it onto a new lease below.
        if (res.responses[0]?.response_range?.kvs[0]?.value.toString() !== this.memberName) return null;
      }
      const fresh = await this.grant(signal, ttlMs);
      const res = await this.txn(signal, [this.holds(this.keys.leader, this.memberName)], [this.putOp(this.keys.leader, this.memberName, fresh.id), ...statusOps]);
      if (!res.succeeded) {
        this.revokeQuietly(fresh.id);
        return null;
      }
      if (held) this.revokeQuietly(held.id);
      return fresh;
    });
    if (lease === null) {
      this.leaderLease = null;
      this.leaseDeadline = null;
      return null;
    }
    this.leaderLease = lease;
    this.leaseDeadline = holderDeadlineMs(sentAt, ttlMs);
    if (lastLsn !== null) this.lastStatus = { lastLsn, slots, retainSlots: this.lastStatus.retainSlots };
    return this.leaseDeadline;
  }

  async deleteLeader(lastLsn: bigint | null = null): Promise<boolean> {
    try {
      return await this.run('delete the leader key', async (signal) => {
        const ops: IRequestOp[] = [];
        if (lastLsn !== null) {
          const current = await this.call(signal, true, () => this.client.kv.range({ key: buf(this.keys.status), serializable: false }));
          const status = current.kvs[0] ? decodeStatus(current.kvs[0].value.toString()) : emptyStatus();
          ops.push(this.putOp(this.keys.status, encodeStatus({ ...status, lastLsn })));
        }
        ops.push({ request_delete_range: { key: buf(this.keys.leader) } });
        return (await this.txn(signal, [this.holds(this.keys.leader, this.memberName)], ops)).succeeded;
      });
    } finally {
      // Released, not ours, or unknown: this member gives up its claim either way.
      if (this.leaderLease) this.revokeQuietly(this.leaderLease.id);
      this.leaderLease = null;
      this.leaseDeadline = null;
    }
  }

  async touchMember(data: MemberData, ttlMs: number): Promise<void> {
    const key = this.keys.member(this.memberName);
    const value = encodeMember(data);
    await this.run('update the member key', async (signal) => {
      const held = this.memberLease;
      if (held && held.ttlMs === ttlMs && (await this.keepAlive(signal, held.id))) {
        try {
          await this.call(signal, true, () => this.client.kv.put({ key: buf(key), value: buf(value), lease: held.id }));
          return;
        } catch (err) {
          // Expired between the keepalive and the put: take a new lease below.
          if (!(err instanceof this.lib.EtcdLeaseInvalidError)) throw err;
        }
      }
      const fresh = await this.grant(signal, ttlMs);
      await this.call(signal, true, () => this.client.kv.put({ key: buf(key), value: buf(value), lease: fresh.id }));
      this.memberLease = fresh;
      if (held) this.revokeQuietly(held.id);
    });
  }

  async initialize(systemIdentifier: string, options: { create: boolean }): Promise<boolean> {
    return this.setKey('write the initialize key', this.keys.initialize, systemIdentifier, options.create ? 0 : undefined);
  }

  async cancelInitialization(): Promise<void> {
    await this.deleteKey('delete the initialize key', this.keys.initialize);
  }

  async setConfig(data: Record<string, unknown>, ifVersion?: number): Promise<boolean> {
    return this.setKey('write the config key', this.keys.config, JSON.stringify(data), ifVersion);
  }

  async setFailover(request: FailoverRequestInput, ifVersion?: number): Promise<boolean> {
    return this.setKey('write the failover key', this.keys.failover, encodeFailover(request), ifVersion);
  }

  async deleteFailover(ifVersion?: number): Promise<boolean> {
    return this.deleteKey('delete the failover key', this.keys.failover, ifVersion);
  }

  async setHistory(lines: readonly TimelineSwitch[]): Promise<void> {
    await this.setKey('write the history key', this.keys.history, encodeHistory(lines));
  }

  async setSyncState(state: SyncStateInput, ifVersion?: number): Promise<boolean> {
    return this.setKey('write the sync key', this.keys.sync, encodeSyncState(state), ifVersion);
  }

  async deleteSyncState(ifVersion?: number): Promise<boolean> {
    return this.deleteKey('delete the sync key', this.keys.sync, ifVersion);
  }

  async setStatus(status: ClusterStatus): Promise<void> {
    await this.setKey('write the status key', this.keys.status, encodeStatus(status));
    this.lastStatus = status;
  }

  async deleteCluster(): Promise<void> {
    await this.run('delete the cluster', (signal) =>
      this.call(signal, true, () => this.client.kv.deleteRange({ key: buf(this.keys.prefix), range_end: prefixEnd(this.keys.prefix) })),
    );
    this.leaderLease = null;
    this.leaseDeadline = null;
  }

  /**
   * An etcd watch on the cluster prefix from just after the view's revision (wake rules in
   * etcd3-watch.ts). Without a view it watches from now; for a view another client read, it first
   * compares with a fresh read. A member cut off from etcd just times out: its next `getCluster`
   * reports the outage.
   */
  async watch(waitMs: number, options: WatchOptions = {}): Promise<WatchResult> {
    this.assertOpen('watch the cluster keys');
    const { signal, view } = options;
    if (signal?.aborted) return 'aborted';
    let revision = view ? this.viewRevisions.get(view) : undefined;
    if (view && revision === undefined) {
      const now = await this.getCluster();
      if (watchedKeysDiffer(now, view)) return 'changed';
      revision = this.viewRevisions.get(now);
    }
    return new Promise<WatchResult>((resolve) => {
      let done = false;
      const builder = this.client.watch().prefix(buf(this.keys.prefix)).withPreviousKV();
      if (revision !== undefined) builder.startRevision((revision + 1n).toString());
      const watcher = builder.watcher();
      // etcd sends prev_kv as null (not absent) for a key that did not exist before the put.
      const wakes = (type: 'put' | 'delete') => (kv: IKeyValue, prev?: IKeyValue | null) => {
        if (etcdEventWakesWatch(this.keys, type, kvText(kv), prev ? kvText(prev) : undefined)) finish('changed');
      };
      const onPut = wakes('put');
      const onDelete = wakes('delete');
      // etcd cancelled the watch (e.g. the view's revision was compacted): let the caller read again.
      const onError = (err: Error): void => {
        this.logger.debug(`dcs: etcd watch ended: ${err.message}`);
        finish('changed');
      };
      const onAbort = (): void => finish('aborted');
      const finish = (result: WatchResult): void => {
        if (done) return;
        done = true;
        cancelTimer();
        signal?.removeEventListener('abort', onAbort);
        this.pendingWatches.delete(finish);
        watcher.off('put', onPut).off('delete', onDelete).off('error', onError);
        watcher.on('error', () => {}); // a late cancellation error has nobody to tell
        watcher.cancel().catch(() => {});
        resolve(result);
      };
      watcher.on('put', onPut).on('delete', onDelete).on('error', onError);
      const cancelTimer = this.clock.setTimer(waitMs, () => finish('timeout'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pendingWatches.add(finish);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const finish of [...this.pendingWatches]) finish('aborted');
    // Leases are left to expire: the agent releases the leader key itself (deleteLeader) when it should.
    this.client.close();
  }

  // ---------------------------------------------------------------- helpers

  private decodeView(kvs: readonly IKeyValue[]): ClusterView {
    // The remaining lease is etcd's to know (one more call per read); the holder has leaseDeadlineMonoMs.
    return decodeClusterView(this.keys, kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), version: Number(kv.mod_revision) })));
  }

  private absent(key: string): ICompare {
    return { key: buf(key), target: 'Create', result: 'Equal', create_revision: 0 };
  }

  private holds(key: string, value: string): ICompare {
    return { key: buf(key), target: 'Value', result: 'Equal', value: buf(value) };
  }

  /** `ifVersion`: 0 = only if absent, else only at that mod_revision. */
  private atVersion(key: string, ifVersion: number): ICompare {
    return ifVersion === 0 ? this.absent(key) : { key: buf(key), target: 'Mod', result: 'Equal', mod_revision: ifVersion };
  }

  private putOp(key: string, value: string, lease?: string): IRequestOp {
    return { request_put: lease === undefined ? { key: buf(key), value: buf(value) } : { key: buf(key), value: buf(value), lease } };
  }

  private async setKey(operation: string, key: string, value: string, ifVersion?: number): Promise<boolean> {
    return this.run(operation, async (signal) => {
      if (ifVersion === undefined) {
        await this.call(signal, true, () => this.client.kv.put({ key: buf(key), value: buf(value) }));
        return true;
      }
      return (await this.txn(signal, [this.atVersion(key, ifVersion)], [this.putOp(key, value)])).succeeded;
    });
  }

  private async deleteKey(operation: string, key: string, ifVersion?: number): Promise<boolean> {
    return this.run(operation, async (signal) => {
      const compare = ifVersion === undefined ? [] : [this.atVersion(key, ifVersion)];
      const res = await this.txn(signal, compare, [{ request_delete_range: { key: buf(key) } }]);
      return res.succeeded && Number(res.responses[0]?.response_delete_range?.deleted ?? 0) > 0;
    });
  }

  private txn(signal: AbortSignal, compare: ICompare[], success: IRequestOp[], failure: IRequestOp[] = []): Promise<ITxnResponse> {
    return this.call(signal, false, () => this.client.kv.txn({ compare, success, failure }));
  }

  /** etcd lease TTLs are whole seconds: round up, so etcd never expires a key before the ttl asked for. */
  private async grant(signal: AbortSignal, ttlMs: number): Promise<HeldLease> {
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError(`ttl must be a positive number of ms, got ${ttlMs}`);
    const res = await this.call(signal, true, () => this.client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1000), ID: 0 }));
    if (res.error) throw new this.lib.EtcdError(`lease grant refused: ${res.error}`);
    return { id: res.ID, ttlMs };
  }

  /** One keepalive of a lease; false when etcd no longer has it (expired or revoked). */
  private keepAlive(signal: AbortSignal, id: string): Promise<boolean> {
    return this.call(signal, true, async () => {
      const stream = await this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + this.attemptTimeoutMs() });
      if (signal.aborted) {
        stream.on('error', () => {});
        stream.cancel();
        throw signal.reason;
      }
      return new Promise<boolean>((resolve, reject) => {
        const onAbort = (): void => stream.cancel();
        stream.on('data', (res) => {
          signal.removeEventListener('abort', onAbort);
          stream.end();
          resolve(Number(res.TTL) > 0);
        });
        stream.on('error', (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(this.lib.castGrpcError(err));
        });
        signal.addEventListener('abort', onAbort, { once: true });
        stream.write({ ID: id });
      });
    });
  }

  /** Best effort: a lease left behind expires by itself within its ttl, and holds no key of ours. */
  private revokeQuietly(id: string): void {
    if (this.closed) return;
    this.client.leaseClient.leaseRevoke({ ID: id }).catch((err: unknown) => this.logger.debug(`dcs: revoking etcd lease ${id} failed: ${String(err)}`));
  }

  /**
   * One etcd call, sent again (to a member the pool picks) while retry_timeout lasts when it failed
   * in a way that allows it: always for idempotent calls, and for conditional writes only when the
   * request provably never reached a member — resending one whose outcome is unknown would report
   * our own applied write as a lost race.
   */
  private async call<T>(signal: AbortSignal, idempotent: boolean, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (signal.aborted || !this.retryable(err, idempotent) || attempt >= 2 * this.endpoints.length + 1) throw err;
        this.logger.debug(`dcs: etcd call failed (${(err as Error).message}), trying again`);
      }
    }
  }

  private retryable(err: unknown, idempotent: boolean): boolean {
    if (!(err instanceof Error)) return false;
    if (NOT_SENT.test(err.message)) return true;
    return idempotent && this.lib.isRecoverableError(err);
  }

  private attemptTimeoutMs(): number {
    return this.retryTimeoutMs / Math.min(this.endpoints.length, 3);
  }

  private async run<T>(operation: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.assertOpen(operation);
    try {
      return await withRetryTimeout(operation, this.retryTimeoutMs, this.clock, fn);
    } catch (err) {
      throw this.unavailable(operation, err);
    }
  }

  /** A DcsUnavailable naming the endpoints and what went wrong; errors that are not etcd's pass through. */
  private unavailable(operation: string, err: unknown): unknown {
    const timedOut = err instanceof DcsUnavailable && err.operation === operation;
    if (!timedOut && !this.isEtcdFailure(err)) return err;
    const why = timedOut ? `no answer within retry_timeout (${Math.round(this.retryTimeoutMs)} ms)` : (err as Error).message;
    return new DcsUnavailable(operation, `etcd is not accessible: ${this.endpoints.join(', ')}: could not ${operation}: ${why}`, { cause: err });
  }

  private isEtcdFailure(err: unknown): boolean {
    const l = this.lib;
    if (!(err instanceof Error)) return false;
    // Cockatiel's breaker error (the library's per-member circuit breaker) is not exported by etcd3.
    if (err.name === 'BrokenCircuitError' || 'isBrokenCircuitError' in err) return true;
    return [l.GRPCGenericError, l.EtcdError, l.EtcdLeaseInvalidError, l.EtcdAuthenticationFailedError, l.EtcdPermissionDeniedError, l.EtcdInvalidAuthTokenError].some((cls) => err instanceof cls);
  }

  private assertOpen(operation: string): void {
    if (this.closed) throw new DcsError(`cannot ${operation}: the DCS client is closed`);
  }
}

/** etcd's range end for "every key starting with `prefix`": the prefix with its last byte incremented. */
function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, 'utf8');
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff: to the end of the keyspace
}

function kvText(kv: IKeyValue): { key: string; value: string } {
  return { key: kv.key.toString(), value: kv.value.toString() };
}

function checkRetryTimeout(ms: number): number {
  if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`retry_timeout must be a positive number of ms, got ${ms}`);
  return ms;
}

export interface StartEtcd3DcsOptions {
  memberName: string;
  retryTimeoutMs?: number;
  clock?: DcsClock;
}

/**
 * Connect to etcd from the `etcd3:` section and return the DCS on it. The etcd3 client (gRPC) is
 * imported here, not at module load: it costs ~450 ms and only an agent on etcd needs it. No call
 * is made yet: an etcd that is down shows as DcsUnavailable on the first operation.
 */
export async function startEtcd3Dcs(
  section: Etcd3Section,
  scope: string,
  namespace: string,
  logger: Logger,
  options: StartEtcd3DcsOptions,
): Promise<Etcd3Dcs> {
  const connection = await etcd3Connection(section);
  const lib = await import('etcd3');
  return new Etcd3Dcs(lib, connection, { ...options, scope, namespace, logger });
}
