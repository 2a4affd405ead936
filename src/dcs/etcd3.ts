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
import { decodeClusterView, decodeStatus, emptyStatus, encodeFailover, encodeFailsafe, encodeHistory, encodeMember, encodeStatus, encodeSyncState } from './codec.js';
import { withRetryTimeout } from './deadline.js';
import { DcsUnavailable } from './errors.js';
import { absent, atVersion, buf, holds, onLease, prefixEnd, putOp } from './etcd3-ops.js';
import { etcd3Connection, type Etcd3Connection, type Etcd3Section } from './etcd3-section.js';
import { isEtcdFailure, memberBreaker, retryable, type Etcd3Module } from './etcd3-failures.js';
import { etcdEventWakesWatch, kvText } from './etcd3-watch.js';
import { clusterKeys, type ClusterKeys } from './keys.js';
import { leaseDeadlineMonoMs } from './lease.js';
import { checkRetryTimeout, DEFAULT_RETRY_TIMEOUT_MS, silentLogger, WatchWaits, watchedKeysDiffer } from './store-plumbing.js';
import type { ClusterStatus, ClusterView, Dcs, FailoverRequestInput, FailsafeTopology, LeaderRelease, LeaseDeadline, MemberData, SyncStateInput, TimelineSwitch, WatchOptions, WatchResult } from './types.js';
import type { Logger } from '../raft/kv/types.js';

export type { Etcd3Module } from './etcd3-failures.js';
export type { Etcd3Section } from './etcd3-section.js';

/** Attempts of one etcd call (each to a member the pool picks) before its error is final. */
const MAX_CALL_ATTEMPTS = 12;
/** The pause before attempt n+1 is n × this, at most MAX_RETRY_PAUSE_MS. */
const RETRY_PAUSE_MS = 50;
const MAX_RETRY_PAUSE_MS = 400;

/** Resolves after `ms` on `clock`, or at once when `signal` aborts (the caller then sees it aborted). */
function pauseOn(clock: DcsClock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      cancel();
      signal.removeEventListener('abort', done);
      resolve();
    };
    // The system clock's timers do not keep the process alive; a call waiting to try again must (a CLI
    // command or a test whose only pending work is this call would otherwise exit mid-call).
    let cancel: () => void;
    if (clock === systemClock) {
      const timer = setTimeout(done, ms);
      cancel = () => clearTimeout(timer);
    } else {
      cancel = clock.setTimer(ms, done);
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export interface Etcd3DcsOptions {
  memberName: string;
  scope: string;
  namespace: string;
  retryTimeoutMs?: number;
  /** Monotonic, and the same clock the HA loop reads: lease deadlines are on it. */
  clock?: DcsClock;
  logger?: Logger;
  section?: Etcd3Section; // handed to the fence (leaderRelease) for a release without this agent; none: no such release
}

/** A lease this client granted, and the ttl it was granted for. */
interface HeldLease {
  id: string;
  ttlMs: number;
}

export class Etcd3Dcs implements Dcs {
  readonly memberName: string;
  readonly keys: ClusterKeys;
  readonly endpoints: readonly string[];
  private readonly client: Etcd3;
  private retryTimeoutMs: number;
  private readonly clock: DcsClock;
  /** The last failed attempt that was tried again, for the message when retry_timeout runs out. */
  private lastRetried: { atMs: number; message: string } | null = null;
  private readonly logger: Logger;
  private readonly waits = new WatchWaits();
  private leaderLease: HeldLease | null = null;
  private memberLease: HeldLease | null = null;
  /** `status` as last read or written: a renewal republishes its retain_slots without a read. */
  private lastStatus: ClusterStatus = emptyStatus();
  /** etcd revision each view returned by this client was read at, so `watch(view)` replays from it. */
  private readonly viewRevisions = new WeakMap<ClusterView, bigint>();

  constructor(
    private readonly lib: Etcd3Module,
    connection: Etcd3Connection,
    private readonly options: Etcd3DcsOptions,
  ) {
    this.memberName = options.memberName;
    this.keys = clusterKeys(options.namespace, options.scope);
    this.keys.member(options.memberName); // validates the name
    this.endpoints = connection.endpoints;
    this.retryTimeoutMs = checkRetryTimeout(options.retryTimeoutMs ?? DEFAULT_RETRY_TIMEOUT_MS);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    // The library's own retries would resend a conditional write whose outcome is unknown and then
    // report the lost compare as a lost race; `call` decides what may be sent again instead.
    const noRetry = { execute: <T>(fn: (context: { signal: AbortSignal }) => Promise<T>) => fn({ signal: new AbortController().signal }) };
    this.client = new lib.Etcd3({
      ...connection.clientOptions,
      // Unary calls get a share of retry_timeout each, so a member that never answers leaves time to try another.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + this.attemptTimeoutMs() }),
      faultHandling: {
        global: noRetry as unknown as NonNullable<IOptions['faultHandling']>['global'],
        host: () => memberBreaker(() => performance.now()) as unknown as ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>,
      },
    });
  }

  setRetryTimeout(ms: number): void {
    this.retryTimeoutMs = checkRetryTimeout(ms);
  }

  async prepareShutdown(): Promise<void> {
    // etcd runs apart from the agents: nothing to move before the leader key is released.
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

  /** Create-if-absent on a new lease; the lease deadline (holder's clock) when this call created the key, else null. */
  async attemptToAcquireLeader(ttlMs: number): Promise<LeaseDeadline> {
    const sentAt = this.clock.nowMs();
    const lease = await this.run('acquire the leader key', async (signal) => {
      const fresh = await this.grant(signal, ttlMs);
      const res = await this.txn(signal, [absent(this.keys.leader)], [putOp(this.keys.leader, this.memberName, fresh.id)]);
      if (res.succeeded) return fresh;
      this.revokeQuietly(fresh.id);
      return null;
    });
    if (lease === null) return null;
    if (this.leaderLease && this.leaderLease.id !== lease.id) this.revokeQuietly(this.leaderLease.id);
    this.leaderLease = lease;
    return leaseDeadlineMonoMs(sentAt, ttlMs);
  }

  /**
   * Renew with ttl if the key still holds our name; the new lease deadline, or null when the key is
   * gone or held by someone else. `status` goes into the same transaction, so it is published by
   * the holder only (and costs no extra round trip).
   */
  async updateLeader(ttlMs: number, lastLsn: bigint | null, slots: Record<string, bigint> = {}, retainSlots?: readonly string[]): Promise<LeaseDeadline> {
    const sentAt = this.clock.nowMs();
    const statusOps = lastLsn === null ? [] : [putOp(this.keys.status, encodeStatus({ lastLsn, slots, retainSlots: retainSlots ? [...retainSlots] : this.lastStatus.retainSlots }))];
    const lease = await this.run('update the leader key', async (signal) => {
      const held = this.leaderLease;
      if (held && held.ttlMs === ttlMs && (await this.keepAlive(signal, held.id))) {
        const res = await this.txn(
          signal,
          [holds(this.keys.leader, this.memberName), onLease(this.keys.leader, held.id)],
          [putOp(this.keys.leader, this.memberName, held.id), ...statusOps],
          [{ request_range: { key: buf(this.keys.leader) } }],
          true,
        );
        if (res.succeeded) return held;
        // Our name on another lease (a grant whose answer we missed): move it onto a new lease below.
        if (res.responses[0]?.response_range?.kvs[0]?.value.toString() !== this.memberName) return null;
      }
      const fresh = await this.grant(signal, ttlMs);
      const res = await this.txn(signal, [holds(this.keys.leader, this.memberName)], [putOp(this.keys.leader, this.memberName, fresh.id), ...statusOps], [], true);
      if (!res.succeeded) {
        this.revokeQuietly(fresh.id);
        return null;
      }
      if (held) this.revokeQuietly(held.id);
      return fresh;
    });
    this.leaderLease = lease;
    if (lease === null) return null;
    if (lastLsn !== null) this.lastStatus = { lastLsn, slots, retainSlots: retainSlots ? [...retainSlots] : this.lastStatus.retainSlots };
    return leaseDeadlineMonoMs(sentAt, ttlMs);
  }

  /** Issue 17: our name on the lease of our last confirmed write — a lease is one process's own (leader-release.ts). */
  leaderRelease(): LeaderRelease | null {
    if (!this.leaderLease || !this.options.section) return null;
    return { key: this.keys.leader, holder: this.memberName, version: null, lease: this.leaderLease.id, store: { kind: 'etcd3', section: { ...this.options.section } } };
  }

  async deleteLeader(lastLsn: bigint | null = null): Promise<boolean> {
    try {
      return await this.run('delete the leader key', async (signal) => {
        const ops: IRequestOp[] = [];
        if (lastLsn !== null) {
          const current = await this.call(signal, true, () => this.client.kv.range({ key: buf(this.keys.status), serializable: false }));
          const status = current.kvs[0] ? decodeStatus(current.kvs[0].value.toString()) : emptyStatus();
          ops.push(putOp(this.keys.status, encodeStatus({ ...status, lastLsn })));
        }
        ops.push({ request_delete_range: { key: buf(this.keys.leader) } });
        return (await this.txn(signal, [holds(this.keys.leader, this.memberName)], ops)).succeeded;
      });
    } finally {
      // Released, not ours, or unknown: this member gives up its claim either way.
      if (this.leaderLease) this.revokeQuietly(this.leaderLease.id);
      this.leaderLease = null;
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

  async setFailsafe(topology: FailsafeTopology): Promise<void> {
    await this.setKey('write the failsafe key', this.keys.failsafe, encodeFailsafe(topology));
  }

  async deleteCluster(): Promise<void> {
    await this.run('delete the cluster', (signal) =>
      this.call(signal, true, () => this.client.kv.deleteRange({ key: buf(this.keys.prefix), range_end: prefixEnd(this.keys.prefix) })),
    );
    this.leaderLease = null;
  }

  /**
   * An etcd watch on the cluster prefix from just after the view's revision (wake rules in
   * etcd3-watch.ts). Without a view it watches from now; for a view another client read, it first
   * compares with a fresh read. A member cut off from etcd just times out: its next `getCluster`
   * reports the outage.
   */
  async watch(waitMs: number, options: WatchOptions = {}): Promise<WatchResult> {
    this.waits.assertOpen('watch the cluster keys');
    const { signal, view } = options;
    if (signal?.aborted) return 'aborted';
    let revision = view ? this.viewRevisions.get(view) : undefined;
    if (view && revision === undefined) {
      const now = await this.getCluster();
      if (watchedKeysDiffer(now, view)) return 'changed';
      revision = this.viewRevisions.get(now);
    }
    return this.waits.wait({ waitMs, clock: this.clock, signal, subscribe: (wake) => this.watchPrefix(revision, wake) });
  }

  async close(): Promise<void> {
    if (this.waits.closed) return;
    this.waits.close();
    // Leases are left to expire: the agent releases the leader key itself (deleteLeader) when it should.
    this.client.close();
  }

  /** An etcd watch on the cluster prefix from just after `revision`; calls `wake` on news; returns how to stop it. */
  private watchPrefix(revision: bigint | undefined, wake: () => void): () => void {
    const builder = this.client.watch().prefix(buf(this.keys.prefix)).withPreviousKV();
    if (revision !== undefined) builder.startRevision((revision + 1n).toString());
    const watcher = builder.watcher();
    // etcd sends prev_kv as null (not absent) for a key that did not exist before the put.
    const wakes = (type: 'put' | 'delete') => (kv: IKeyValue, prev?: IKeyValue | null) => {
      if (etcdEventWakesWatch(this.keys, type, kvText(kv), prev ? kvText(prev) : undefined)) wake();
    };
    const onPut = wakes('put');
    const onDelete = wakes('delete');
    // etcd cancelled the watch (e.g. the view's revision was compacted): let the caller read again.
    const onError = (err: Error): void => {
      this.logger.debug(`dcs: etcd watch ended: ${err.message}`);
      wake();
    };
    watcher.on('put', onPut).on('delete', onDelete).on('error', onError);
    return () => {
      watcher.off('put', onPut).off('delete', onDelete).off('error', onError);
      // A cancellation error after the wait ended has nobody to tell: the watch is gone either way.
      watcher.on('error', () => {});
      watcher.cancel().catch(() => {});
    };
  }

  // ---------------------------------------------------------------- helpers

  private decodeView(kvs: readonly IKeyValue[]): ClusterView {
    // The remaining lease is etcd's to know (one more call per read); the holder has the deadline its writes returned.
    return decodeClusterView(this.keys, kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), version: Number(kv.mod_revision) })));
  }

  private async setKey(operation: string, key: string, value: string, ifVersion?: number): Promise<boolean> {
    return this.run(operation, async (signal) => {
      if (ifVersion === undefined) {
        await this.call(signal, true, () => this.client.kv.put({ key: buf(key), value: buf(value) }));
        return true;
      }
      return (await this.txn(signal, [atVersion(key, ifVersion)], [putOp(key, value)])).succeeded;
    });
  }

  private async deleteKey(operation: string, key: string, ifVersion?: number): Promise<boolean> {
    return this.run(operation, async (signal) => {
      const compare = ifVersion === undefined ? [] : [atVersion(key, ifVersion)];
      const res = await this.txn(signal, compare, [{ request_delete_range: { key: buf(key) } }]);
      return res.succeeded && Number(res.responses[0]?.response_delete_range?.deleted ?? 0) > 0;
    });
  }

  /**
   * A conditional write; `idempotent` when sending it again after it applied gives the same state
   * and the same answer (a renewal: it compares our own name and puts the same value), so an
   * outcome the dying member never told may be asked of another.
   */
  private txn(signal: AbortSignal, compare: ICompare[], success: IRequestOp[], failure: IRequestOp[] = [], idempotent = false): Promise<ITxnResponse> {
    return this.call(signal, idempotent, () => this.client.kv.txn({ compare, success, failure }));
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
    if (this.waits.closed) return;
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
        if (signal.aborted || !retryable(this.lib, err, idempotent) || attempt >= MAX_CALL_ATTEMPTS) throw err;
        this.logger.debug(`dcs: etcd call failed (${(err as Error).message}), trying again`);
        // A member's open breaker only repeats why it opened: keep that reason.
        const breaker = /circuit breaker is open/i.test((err as Error).message);
        this.lastRetried = { atMs: this.clock.nowMs(), message: breaker && this.lastRetried ? this.lastRetried.message : (err as Error).message };
        // A dead member refuses at once, and the live ones answer "no leader" at once while they elect
        // a new one (about a second): back to back, every attempt was spent within milliseconds and a
        // member key write failed with one etcd member down (CI rehearsal, e2e etcd). retry_timeout
        // (the signal) still bounds the whole call.
        await pauseOn(this.clock, Math.min(RETRY_PAUSE_MS * attempt, MAX_RETRY_PAUSE_MS), signal);
        if (signal.aborted) throw err;
      }
    }
  }

  private attemptTimeoutMs(): number {
    return this.retryTimeoutMs / Math.min(this.endpoints.length, 3);
  }

  private async run<T>(operation: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.waits.assertOpen(operation);
    const startedMs = this.clock.nowMs();
    try {
      return await withRetryTimeout(operation, this.retryTimeoutMs, this.clock, fn);
    } catch (err) {
      throw this.unavailable(operation, err, startedMs);
    }
  }

  /** A DcsUnavailable naming the endpoints and what went wrong; errors that are not etcd's pass through. */
  private unavailable(operation: string, err: unknown, startedMs: number): unknown {
    const timedOut = err instanceof DcsUnavailable && err.operation === operation;
    if (!timedOut && !isEtcdFailure(this.lib, err)) return err;
    // Out of time while trying again: the last failure seen meanwhile says why (a refused connection, no leader).
    const last = this.lastRetried && this.lastRetried.atMs >= startedMs ? `; last error: ${this.lastRetried.message}` : '';
    const why = timedOut ? `no answer within retry_timeout (${Math.round(this.retryTimeoutMs)} ms)${last}` : (err as Error).message;
    return new DcsUnavailable(operation, `etcd is not accessible: ${this.endpoints.join(', ')}: could not ${operation}: ${why}`, { cause: err });
  }
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
  return new Etcd3Dcs(lib, connection, { ...options, scope, namespace, logger, section });
}
