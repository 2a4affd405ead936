/**
 * The cluster-state store on the embedded Raft KV (DESIGN.md "The Raft store"): the agent runs a
 * `RaftNode` in-process and hands it to `RaftDcs` (or lets `startRaftDcs` start one from the
 * config's `raft:` section). Key semantics are those of memory-store.ts, provided by src/raft/kv:
 * versions are Raft indexes, `ifVersion: 0` is create-if-absent, TTL keys expire on the Raft
 * leader's clock (lease.ts).
 *
 * Every call is bounded by retry_timeout (`withRetryTimeout`): a Raft write without quorum never
 * fails by itself, it waits. Raft failures (no leader, no quorum, node stopped, storage) become
 * `DcsUnavailable` saying which node and what it knew of the leader; anything else is a bug and
 * passes through.
 *
 * Leases. The holder's belief in the leader key is `holderDeadlineMs(sentAt, ttl)`, counted from
 * the moment the acquire/renewal was handed to the node — before any node could apply it — and
 * shortened by the clock-drift bound, so it ends before any node can expire the key (proof in
 * src/raft/kv/lease.ts). A write whose outcome is unknown never extends it.
 */
import { decodeClusterView, decodeStatus, emptyStatus, encodeFailover, encodeFailsafe, encodeHistory, encodeMember, encodeStatus, encodeSyncState } from './codec.js';
import { systemClock, type DcsClock } from './clock.js';
import { withRetryTimeout } from './deadline.js';
import { DcsError, DcsUnavailable } from './errors.js';
import { clusterKeys, type ClusterKeys } from './keys.js';
import { leaseDeadlineMonoMs } from './lease.js';
import { baselineFromEntries, baselineFromView, eventWakesWatch, localStateDiffers, type WatchBaseline } from './raft-watch.js';
import { checkRetryTimeout, DEFAULT_RETRY_TIMEOUT_MS, silentLogger, WatchWaits, watchedKeys } from './store-plumbing.js';
import type {
  ClusterStatus,
  ClusterView,
  Dcs,
  FailoverRequestInput,
  FailsafeTopology,
  LeaderRelease,
  LeaseDeadline,
  MemberData,
  SyncStateInput,
  TimelineSwitch,
  WatchOptions,
  WatchResult,
} from './types.js';
import { RaftNode, RaftNotLeader, RaftRequestDenied, RaftStopped, RaftStorageError, RaftTimeout, RaftUnavailable } from '../raft/index.js';
import type { KvCommand, KvEntry, KvResult, Logger } from '../raft/kv/index.js';

export interface RaftDcsOptions {
  memberName: string;
  scope: string;
  namespace: string;
  retryTimeoutMs?: number;
  /** Monotonic, and the same clock the HA loop reads (performance.now()): lease deadlines are on it. */
  clock?: DcsClock;
  logger?: Logger;
  /** Stop the node on `close()` (true when `startRaftDcs` created it). */
  ownsNode?: boolean;
}

const RAFT_FAILURES = [RaftTimeout, RaftUnavailable, RaftStopped, RaftStorageError, RaftNotLeader, RaftRequestDenied];

export class RaftDcs implements Dcs {
  readonly memberName: string;
  /** Version of our last confirmed acquire/renewal of the leader key; null when unknown or not ours. */
  private leaderVersion: number | null = null;
  readonly keys: ClusterKeys;
  private retryTimeoutMs: number;
  private readonly clock: DcsClock;
  private readonly logger: Logger;
  private readonly ownsNode: boolean;
  private readonly waits = new WatchWaits();
  /** Raw versions behind each view this client returned, so `watch(view)` compares exactly. */
  private readonly baselines = new WeakMap<ClusterView, WatchBaseline>();

  constructor(
    readonly node: RaftNode,
    options: RaftDcsOptions,
  ) {
    this.memberName = options.memberName;
    this.keys = clusterKeys(options.namespace, options.scope);
    this.keys.member(options.memberName); // validates the name
    this.retryTimeoutMs = checkRetryTimeout(options.retryTimeoutMs ?? DEFAULT_RETRY_TIMEOUT_MS);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.ownsNode = options.ownsNode ?? false;
  }

  setRetryTimeout(ms: number): void {
    this.retryTimeoutMs = checkRetryTimeout(ms);
  }

  async getCluster(): Promise<ClusterView> {
    const entries = await this.run('read the cluster state', (timeoutMs) => this.node.list(this.keys.prefix, { timeoutMs }));
    const view = this.decodeView(entries);
    this.baselines.set(view, baselineFromEntries(this.keys, entries));
    return view;
  }

  /** Create-if-absent with ttl; the lease deadline (holder's clock) when this call created the key, else null. */
  async attemptToAcquireLeader(ttlMs: number): Promise<LeaseDeadline> {
    const sentAt = this.clock.nowMs();
    const result = await this.trackLeaderWrite(this.write('acquire the leader key', { op: 'set', key: this.keys.leader, value: this.memberName, ttlMs, ifVersion: 0 }));
    return result.ok ? leaseDeadlineMonoMs(sentAt, ttlMs) : null;
  }

  /**
   * Renew (CAS on our own name) with ttl; the new lease deadline, or null when the key is gone or
   * held by someone else. Then publishes `status` best effort within what is left of retry_timeout.
   */
  async updateLeader(ttlMs: number, lastLsn: bigint | null, slots: Record<string, bigint> = {}, retainSlots?: readonly string[]): Promise<LeaseDeadline> {
    const sentAt = this.clock.nowMs();
    const result = await this.trackLeaderWrite(this.write('update the leader key', { op: 'set', key: this.keys.leader, value: this.memberName, ttlMs, ifValue: this.memberName }));
    if (!result.ok) return null;
    const deadline = leaseDeadlineMonoMs(sentAt, ttlMs);
    if (lastLsn !== null) {
      const leftMs = this.retryTimeoutMs - (this.clock.nowMs() - sentAt);
      try {
        if (leftMs <= 0) throw new DcsUnavailable('write the status key', 'no time left within retry_timeout after the renewal');
        await this.writeStatus({ lastLsn, slots, retainSlots: retainSlots ? [...retainSlots] : this.localStatus().retainSlots }, leftMs);
      } catch (err) {
        if (!(err instanceof DcsError)) throw err;
        this.logger.warn(`dcs: leader key renewed, but publishing the last primary LSN failed: ${err.message}`);
      }
    }
    return deadline;
  }

  async deleteLeader(lastLsn: bigint | null = null): Promise<boolean> {
    const started = this.clock.nowMs();
    const left = () => this.retryTimeoutMs - (this.clock.nowMs() - started);
    if (lastLsn !== null) {
      const holder = await this.run('read the leader key', (timeoutMs) => this.node.get(this.keys.leader, { timeoutMs }));
      if (holder?.value === this.memberName) await this.writeStatus({ ...this.localStatus(), lastLsn }, left());
    }
    // Compare-and-delete on the exact write we last confirmed (issue 17): a release that comes late —
    // after this member's key expired and it took the key again — never deletes the newer write
    // (test/raft/kv/stale-release.property.test.ts). Unknown (a leader write whose outcome we could not
    // learn): the holder alone, as before.
    const version = this.leaderVersion;
    this.leaderVersion = null;
    const command: KvCommand = { op: 'delete', key: this.keys.leader, ifValue: this.memberName };
    if (version !== null) command.ifVersion = version;
    const result = await this.write('delete the leader key', command, left());
    return result.ok;
  }

  /**
   * Issue 17: the release the fence carries out when this agent cannot — the exact version of our
   * last confirmed write, and every member of the group (voters and learners, this node last: when
   * the fence needs it, this node died with the agent or froze with it).
   */
  leaderRelease(): LeaderRelease | null {
    if (this.leaderVersion === null) return null;
    const { voters, learners } = this.node.membership;
    const self = this.node.options.selfAddr;
    const others = [...voters, ...learners].filter((a) => a !== self);
    return {
      key: this.keys.leader,
      holder: this.memberName,
      version: this.leaderVersion,
      lease: null,
      store: { kind: 'raft', addrs: [...new Set(others), self], password: this.node.options.password ?? null, clusterName: this.node.options.clusterName ?? '' },
    };
  }

  /**
   * Remembers the version (Raft index) of our last confirmed leader-key write; forgets it when a
   * write fails or its outcome is unknown (then no exact version can be claimed).
   */
  private async trackLeaderWrite(write: Promise<KvResult>): Promise<KvResult> {
    this.leaderVersion = null;
    const result = await write;
    if (result.ok && result.entry) this.leaderVersion = result.entry.version;
    return result;
  }

  async touchMember(data: MemberData, ttlMs: number): Promise<void> {
    await this.write('update the member key', { op: 'set', key: this.keys.member(this.memberName), value: encodeMember(data), ttlMs });
  }

  async initialize(systemIdentifier: string, options: { create: boolean }): Promise<boolean> {
    const command: KvCommand = { op: 'set', key: this.keys.initialize, value: systemIdentifier };
    if (options.create) command.ifVersion = 0;
    return (await this.write('write the initialize key', command)).ok;
  }

  async cancelInitialization(): Promise<void> {
    await this.write('delete the initialize key', { op: 'delete', key: this.keys.initialize });
  }

  async setConfig(data: Record<string, unknown>, ifVersion?: number): Promise<boolean> {
    return (await this.write('write the config key', withVersion({ op: 'set', key: this.keys.config, value: JSON.stringify(data) }, ifVersion))).ok;
  }

  async setFailover(request: FailoverRequestInput, ifVersion?: number): Promise<boolean> {
    return (await this.write('write the failover key', withVersion({ op: 'set', key: this.keys.failover, value: encodeFailover(request) }, ifVersion))).ok;
  }

  async deleteFailover(ifVersion?: number): Promise<boolean> {
    return (await this.write('delete the failover key', withVersion({ op: 'delete', key: this.keys.failover }, ifVersion))).ok;
  }

  async setHistory(lines: readonly TimelineSwitch[]): Promise<void> {
    await this.write('write the history key', { op: 'set', key: this.keys.history, value: encodeHistory(lines) });
  }

  async setSyncState(state: SyncStateInput, ifVersion?: number): Promise<boolean> {
    return (await this.write('write the sync key', withVersion({ op: 'set', key: this.keys.sync, value: encodeSyncState(state) }, ifVersion))).ok;
  }

  async deleteSyncState(ifVersion?: number): Promise<boolean> {
    return (await this.write('delete the sync key', withVersion({ op: 'delete', key: this.keys.sync }, ifVersion))).ok;
  }

  async setStatus(status: ClusterStatus): Promise<void> {
    await this.writeStatus(status, this.retryTimeoutMs);
  }

  async setFailsafe(topology: FailsafeTopology): Promise<void> {
    await this.write('write the failsafe key', { op: 'set', key: this.keys.failsafe, value: encodeFailsafe(topology) });
  }

  async deleteCluster(): Promise<void> {
    await this.write('delete the cluster', { op: 'deletePrefix', prefix: this.keys.prefix });
  }

  /**
   * Wakes on KV changes this node applies (see raft-watch.ts). Local state, not a quorum read: a
   * change committed elsewhere reaches this node's apply within a heartbeat, and a node cut off from
   * the leader has nothing to wake for — its next `getCluster` reports the outage.
   */
  async watch(waitMs: number, options: WatchOptions = {}): Promise<WatchResult> {
    this.waits.assertOpen('watch the cluster keys');
    if (!this.node.running) throw this.unavailable('watch the cluster keys', new RaftStopped(`raft node ${this.node.options.selfAddr} is not running`));
    const { signal, view } = options;
    const baseline = view ? (this.baselines.get(view) ?? baselineFromView(this.keys, view)) : null;
    return this.waits.wait({
      waitMs,
      clock: this.clock,
      signal,
      subscribe: (wake) =>
        this.node.watch((event) => {
          if (eventWakesWatch(this.keys, event, baseline)) wake();
        }),
      alreadyChanged: () => baseline !== null && this.localStateDiffers(baseline),
    });
  }

  /**
   * Shutdown of the leader-key holder: hand Raft leadership to the most up-to-date peer now, while
   * PostgreSQL stops, instead of inside `close()` after the key is released. Never throws; a
   * single-node store, or a transfer that does not complete in time, leaves things as they are.
   */
  async prepareShutdown(): Promise<void> {
    if (this.waits.closed || !this.node.isLeader) return;
    // A failed or slow transfer only means close() steps down later, as without this hook.
    await this.node.transferLeadership(null, this.node.options.electionTimeoutMinMs).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.waits.closed) return;
    this.waits.close();
    if (this.ownsNode) await this.node.stop();
  }

  // ---------------------------------------------------------------- helpers

  private decodeView(entries: readonly KvEntry[]): ClusterView {
    // The remaining lease is known only to the Raft leader's clock; the holder has the deadline its writes returned.
    return decodeClusterView(this.keys, entries);
  }

  private localStateDiffers(baseline: WatchBaseline): boolean {
    // Index first, then the entries: the entries are at least as new as the index says.
    const appliedIndex = this.node.appliedIndex;
    const local = new Map<string, KvEntry | null>();
    for (const key of watchedKeys(this.keys)) local.set(key, this.node.readLocal({ key }) as KvEntry | null);
    return localStateDiffers(this.keys, baseline, local, appliedIndex);
  }

  /**
   * `retainSlots` is written only by `setStatus`; a renewal keeps it from this node's applied state
   * rather than paying a second quorum round on every loop.
   */
  private localStatus(): ClusterStatus {
    const entry = this.node.readLocal({ key: this.keys.status }) as KvEntry | null;
    return entry ? decodeStatus(entry.value) : emptyStatus();
  }

  private async writeStatus(status: ClusterStatus, budgetMs: number): Promise<void> {
    await this.write('write the status key', { op: 'set', key: this.keys.status, value: encodeStatus(status) }, budgetMs);
  }

  private async write(operation: string, command: KvCommand, budgetMs = this.retryTimeoutMs): Promise<KvResult> {
    const result = await this.run(operation, (timeoutMs) => this.node.write(command, { timeoutMs }), budgetMs);
    // A session overtaken by a newer write of the same client cannot tell what happened to this one.
    if (!result.ok && result.reason === 'stale-request') {
      throw new DcsUnavailable(operation, `DCS is not accessible: outcome of "${operation}" unknown on Raft node ${this.node.options.selfAddr} (stale client request)`);
    }
    return result;
  }

  private async run<T>(operation: string, fn: (timeoutMs: number) => Promise<T>, budgetMs = this.retryTimeoutMs): Promise<T> {
    this.waits.assertOpen(operation);
    if (budgetMs <= 0) throw this.unavailable(operation, null, budgetMs);
    try {
      return await withRetryTimeout(operation, budgetMs, this.clock, () => fn(budgetMs));
    } catch (err) {
      throw this.unavailable(operation, err, budgetMs);
    }
  }

  /** A DcsUnavailable naming the node, what it knows of the leader, and the Raft error; other errors unchanged. */
  private unavailable(operation: string, err: unknown, budgetMs = this.retryTimeoutMs): unknown {
    const timedOut = err === null || (err instanceof DcsUnavailable && err.operation === operation);
    if (!timedOut && !RAFT_FAILURES.some((cls) => err instanceof cls)) return err;
    const self = this.node.options.selfAddr;
    const leader = this.node.leader;
    const knows = leader === null ? 'no Raft leader known' : leader === self ? 'it is the Raft leader' : `Raft leader ${leader}`;
    const why = timedOut ? `no answer within retry_timeout (${Math.round(budgetMs)} ms)` : (err as Error).message;
    return new DcsUnavailable(
      operation,
      `DCS is not accessible: could not ${operation} through Raft node ${self} (${knows}): ${why}`,
      err === null ? undefined : { cause: err },
    );
  }

}

function withVersion<C extends Extract<KvCommand, { op: 'set' | 'delete' }>>(command: C, ifVersion: number | undefined): C {
  if (ifVersion !== undefined) command.ifVersion = ifVersion;
  return command;
}

/**
 * The config file's `raft:` section (Patroni's keys; src/config/schema.ts validates it — repeated
 * structurally here because src/dcs does not import the config layer).
 */
export interface RaftSection {
  self_addr?: string;
  partner_addrs?: string[];
  bind_addr?: string;
  data_dir?: string;
  password?: string;
  /** hactl: no password on purpose (otherwise the Raft node refuses to start without one). */
  allow_unauthenticated?: boolean;
}

export interface StartRaftDcsOptions {
  memberName: string;
  retryTimeoutMs?: number;
  clock?: DcsClock;
}

/**
 * Start the embedded Raft node from the `raft:` section (Raft timing defaults: pysyncobj's) and
 * return the DCS on it; `close()` stops the node (handing Raft leadership over first).
 */
export async function startRaftDcs(
  raft: RaftSection,
  scope: string,
  namespace: string,
  logger: Logger,
  options: StartRaftDcsOptions,
): Promise<RaftDcs> {
  if (!raft.self_addr) {
    // Patroni lets a node without self_addr read the store without voting; hactl does not (yet).
    throw new DcsError('raft.self_addr is required: every hactl agent runs a voting Raft member');
  }
  if (!raft.data_dir) {
    throw new DcsError('raft.data_dir is required: a voting Raft member keeps its term, vote and log on disk (Patroni used the working directory; set data_dir: . for that)');
  }
  const node = new RaftNode({
    selfAddr: raft.self_addr,
    partnerAddrs: raft.partner_addrs ?? [],
    bindAddr: raft.bind_addr,
    dataDir: raft.data_dir,
    password: raft.password ?? null,
    allowUnauthenticated: raft.allow_unauthenticated === true,
    // The scope salts the password's key: one derivation per process, none shared across clusters.
    clusterName: scope,
    logger,
  });
  await node.start();
  return new RaftDcs(node, { ...options, scope, namespace, logger, ownsNode: true });
}
