/**
 * RaftNode: the pure core (src/raft/core) wired to durable storage, the transport, the KV state
 * machine, a monotonic clock and timers. This is the object the DCS and `hactl raft node` use:
 * start/stop, write, read, watch, status, leadership and membership events.
 *
 * Decisions stay in the core; this file only moves data between it and the outside world (see
 * node/ready-loop.ts for the order of persistence, sending and applying). Forwarding to the leader
 * is node/forward.ts, membership and transfer node/membership-ops.ts, a member asking the cluster
 * about itself (new, learner, recovering) node/rejoin.ts.
 */
import { performance } from 'node:perf_hooks';
import type { Membership, Message, Role } from './core/types.js';
import { encodeCommand, type KvCommand, type KvEntry, type KvEvent, type KvResult, type Logger } from './kv/index.js';
import type { RaftStorage } from './storage/types.js';
import type { RaftTransport, RpcPayload } from './transport/types.js';
import type { AdminStatus, MemberInfo, MembershipResult, TransferResult } from './admin/protocol.js';
import { handleRequest, type ReadQuery, type RequestTarget } from './node/requests.js';
import { buildStatus, buildMembers } from './node/status.js';
import { createCore, createStorage, createTransport, dialRpc } from './node/factories.js';
import type { RaftCore } from './core/index.js';
import { PeerLinks, type Dialer } from './node/leader-link.js';
import { DEFAULTS, resolveOptions, type RaftNodeOptions, type ResolvedOptions } from './node/options.js';
import { ReadyLoop } from './node/ready-loop.js';
import { membershipReply, type RaftRequest } from './node/rpc.js';
import { readLocal, submitRead, submitWrite, type KvHost } from './node/kv-ops.js';
import { SessionPool } from './node/sessions.js';
import { StateMachine } from './node/state-machine.js';
import { ApplyStage } from './node/apply-stage.js';
import { errorMessage, RaftStopped, RaftStorageError } from './node/errors.js';
import { sleep } from './node/backoff.js';
import { LeaderWatch, type LeaderChange } from './node/leader-watch.js';
import { bestTransferTarget, changeMembership, join, transferLeadership, type MembershipHost } from './node/membership-ops.js';
import { RejoinKeeper } from './node/rejoin.js';
import { Compactor } from './node/compaction.js';

export type { LeaderChange, ReadQuery };

export interface ReadOptions {
  /** true (default): ReadIndex through the leader; false: this node's applied state, possibly stale. */
  linearizable?: boolean;
  timeoutMs?: number;
}

export interface WriteOptions {
  timeoutMs?: number;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export class RaftNode implements RequestTarget {
  readonly options: ResolvedOptions;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly sessions: SessionPool;
  private readonly leaderWatch = new LeaderWatch();
  private readonly stage: ApplyStage;
  /** Peer → monotonic ms of the last message received from it (partner status, has_quorum). */
  readonly lastHeard = new Map<string, number>();
  private storage!: RaftStorage;
  private transport!: RaftTransport;
  private core!: RaftCore;
  private sm!: StateMachine;
  private loop!: ReadyLoop;
  private links!: PeerLinks;
  private rejoin!: RejoinKeeper;
  private compactor!: Compactor;
  private ticker: NodeJS.Timeout | null = null;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private readSeq = 0;
  private startedAt = 0;
  private readonly injected: { storage?: RaftStorage; transport?: RaftTransport; dial?: Dialer };

  constructor(options: RaftNodeOptions) {
    this.options = resolveOptions(options);
    this.logger = options.logger ?? silent;
    this.clock = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.sessions = new SessionPool(this.options.selfAddr);
    this.injected = { storage: options.storage, transport: options.transport, dial: options.dial };
    this.stage = new ApplyStage(() => this.sm, this.leaderWatch, this.logger, () => this.now());
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`raft node ${this.options.selfAddr} was already started`);
    this.state = 'starting';
    const o = this.options;
    this.startedAt = this.now();
    this.storage = this.injected.storage ?? createStorage(o, this.logger);
    const loaded = await this.storage.load();
    const bootstrap: Membership = { voters: [o.selfAddr, ...o.partnerAddrs].sort(), learners: [] };
    this.sm = new StateMachine(loaded.snapshot, bootstrap, this.logger, this.now());
    this.core = createCore(o, this.random, { hardState: loaded.hardState, snapshot: loaded.snapshot, entries: loaded.entries, bootstrapMembership: bootstrap });
    this.leaderWatch.term = loaded.hardState.term;
    this.compactor = new Compactor(o, this.logger, () => this.now());
    this.logger.info(
      `raft: node ${o.selfAddr} starting: term ${loaded.hardState.term}, ${loaded.entries.length} log entries` +
        (loaded.snapshot ? `, snapshot at ${loaded.snapshot.meta.index}` : '') +
        `, ${o.dataDir ? `data_dir ${o.dataDir}` : 'in memory (tests)'}`,
    );
    this.loop = new ReadyLoop(loaded.hardState, this.core, this.storage, {
      send: (msgs) => this.send(msgs),
      applyDurable: (committed) => this.stage.applyEntries(committed),
      apply: (rd, committed) => {
        this.stage.apply(rd, committed);
        this.rejoin.observe();
      },
      afterAdvance: () => {
        if (this.state === 'running') this.compactor.maybeSnapshot(this.sm, (i, d) => this.core.compact(i, d), this.storage);
      },
      storageFailed: (err) => this.stage.failAll(new RaftStorageError(`raft node ${o.selfAddr} could not persist its log (${err.message}); the write was not acknowledged and may or may not be applied later`)),
    }, this.logger, () => this.now());
    this.links = new PeerLinks(this.injected.dial ?? dialRpc, o.password, Math.max(1000, o.electionTimeoutMaxMs));
    this.rejoin = new RejoinKeeper({
      selfAddr: o.selfAddr,
      partners: o.partnerAddrs,
      now: () => this.now(),
      view: () => this.core.status(),
      sendJoin: async (to, recovering, timeoutMs) => membershipReply(await this.request(to, { kind: 'admin', op: 'join', addr: o.selfAddr, recovering, timeoutMs }, timeoutMs + 500)),
      saveRecovery: (r) => {
        this.storage.setRecovery(r);
        this.loop.schedule();
      },
      setCanVote: (b) => this.core.setCanVote(b),
      logger: this.logger,
    }, loaded.recovery);
    this.transport = this.injected.transport ?? createTransport(o, this.logger);
    this.transport.onMessage((msg) => this.receive(msg));
    this.transport.onRequest((req) => handleRequest(this, req));
    try {
      await this.transport.listen();
    } catch (err) {
      this.state = 'stopped';
      // The listen error is what the caller needs; a close failure on top adds nothing.
      await this.storage.close().catch(() => {});
      throw err;
    }
    this.state = 'running';
    this.ticker = setInterval(() => this.onTick(), o.tickMs);
    this.loop.schedule();
    this.logger.info(`raft: node ${o.selfAddr} listening on ${o.bindAddr}; members ${bootstrap.voters.join(', ')}` + (loaded.recovery ? '; recovering, not voting until caught up' : ''));
  }

  /**
   * Stop: hand leadership over when leading (so the cluster does not wait an election timeout),
   * flush what is being persisted, fail waiting requests, close the port and the storage.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping' || this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    if (this.isLeader && this.storageError === null) {
      const target = bestTransferTarget(this.core, this.options.selfAddr);
      // Best effort: without a handover the others elect a leader after a timeout.
      if (target) await this.transferLeadership(target, this.options.electionTimeoutMinMs).catch(() => {});
    }
    this.state = 'stopping';
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    await Promise.race([this.loop.whenIdle(), sleep(2_000)]);
    this.loop.stop();
    this.stage.failAll(new RaftStopped(`raft node ${this.options.selfAddr} is stopping`), true);
    this.links.close();
    await this.transport.close().catch((err) => this.logger.warn(`raft: closing transport: ${errorMessage(err)}`));
    await this.storage.close().catch((err) => this.logger.warn(`raft: closing storage: ${errorMessage(err)}`));
    this.state = 'stopped';
    this.logger.info(`raft: node ${this.options.selfAddr} stopped`);
  }

  // ---------------------------------------------------------------- public state

  get isLeader(): boolean {
    return this.leaderWatch?.role === 'leader' && this.storageError === null;
  }

  get leader(): string | null {
    return this.leaderWatch?.leader ?? null;
  }

  get currentTerm(): number {
    return this.leaderWatch?.term ?? 0;
  }

  get currentRole(): Role {
    return this.leaderWatch?.role ?? 'follower';
  }

  get appliedIndex(): number {
    return this.sm.appliedIndex;
  }

  get membership(): Membership {
    return this.sm.membership;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Being recovered after `hactl raft recover`: not voting until caught up and promoted. */
  get recovering(): boolean {
    return this.rejoin?.recovering ?? false;
  }

  get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs;
  }

  /** This node's monotonic clock, in ms. */
  now(): number {
    return this.clock();
  }

  status(): AdminStatus {
    return buildStatus({
      options: this.options,
      view: this.core.status(),
      sm: this.sm,
      lastHeard: this.lastHeard,
      now: this.now(),
      uptimeS: (this.now() - this.startedAt) / 1000,
      inMemory: this.storage.inMemory,
      storageError: this.storageError,
      recovering: this.recovering,
      connectionTimeoutMs: this.connectionTimeoutMs(),
    });
  }

  members(): MemberInfo[] {
    return buildMembers(this.options.selfAddr, this.core.status(), this.sm.membership, this.lastHeard, this.now(), this.connectionTimeoutMs());
  }

  onLeaderChange(listener: (change: LeaderChange) => void): () => void {
    return this.leaderWatch.onLeaderChange(listener);
  }

  onMembershipChange(listener: (membership: Membership) => void): () => void {
    return this.stage.onMembershipChange(listener);
  }

  /** Every applied KV change on this node (set, delete, expiry), in log order. */
  watch(listener: (event: KvEvent) => void): () => void {
    return this.sm.onEvent(listener);
  }

  // ---------------------------------------------------------------- writes and reads

  /**
   * Replicate one KV command and return its result once committed and applied. Followers forward
   * to the leader; a retried attempt keeps its (clientId, seq), so the command applies at most once.
   * Rejects with RaftTimeout when the outcome is unknown at the deadline.
   */
  async write(command: KvCommand, opts: WriteOptions = {}): Promise<KvResult> {
    this.assertRunning();
    const { session, seq } = this.sessions.acquire();
    try {
      // Validate before anything leaves the node (throws KvCommandError on a malformed command, or on expire).
      encodeCommand({ clientId: session.clientId, seq, command });
      return await this.submitWrite(session.clientId, seq, command, this.now() + (opts.timeoutMs ?? this.options.requestTimeoutMs), false);
    } finally {
      this.sessions.release(session);
    }
  }

  /** @internal Entry point for local writes and for requests arriving over RPC. */
  submitWrite(clientId: string, seq: number, command: KvCommand, deadline: number, forwarded: boolean): Promise<KvResult> {
    return submitWrite(this.kvHost(), clientId, seq, command, deadline, forwarded);
  }

  async get(key: string, opts: ReadOptions = {}): Promise<KvEntry | null> {
    return (await this.read({ key }, opts)) as KvEntry | null;
  }

  async list(prefix: string, opts: ReadOptions = {}): Promise<KvEntry[]> {
    return (await this.read({ prefix }, opts)) as KvEntry[];
  }

  /**
   * Read a key (entry or null) or a prefix (sorted entries). Linearizable by default: the leader
   * confirms it still leads (a heartbeat round) and the answer reflects every write acknowledged
   * before the call; followers forward the read to the leader.
   */
  async read(query: ReadQuery, opts: ReadOptions = {}): Promise<KvEntry | null | KvEntry[]> {
    this.assertRunning();
    if (opts.linearizable === false) return this.readLocal(query);
    return this.submitRead(query, this.now() + (opts.timeoutMs ?? this.options.requestTimeoutMs), false);
  }

  /** @internal */
  readLocal(query: ReadQuery): KvEntry | null | KvEntry[] {
    return readLocal(this.sm, query);
  }

  /** @internal */
  submitRead(query: ReadQuery, deadline: number, forwarded: boolean): Promise<KvEntry | null | KvEntry[]> {
    return submitRead(this.kvHost(), query, deadline, forwarded);
  }

  // ---------------------------------------------------------------- membership and leadership

  /** Add a member (it catches up as a learner, then votes). Forwarded to the leader. */
  addMember(addr: string, timeoutMs = 30_000): Promise<MembershipResult> {
    return this.changeMembership('add', addr, timeoutMs);
  }

  removeMember(addr: string, timeoutMs = 30_000): Promise<MembershipResult> {
    return this.changeMembership('remove', addr, timeoutMs);
  }

  /** @internal */
  changeMembership(op: 'add' | 'remove', addr: string, timeoutMs: number, forwarded = false): Promise<MembershipResult> {
    return changeMembership(this.membershipHost(), op, addr, timeoutMs, forwarded);
  }

  /** @internal A member asking to be added (or, recovering, demoted and caught up); see node/rejoin.ts. */
  join(addr: string, recovering: boolean, timeoutMs: number, forwarded = false): Promise<MembershipResult> {
    return join(this.membershipHost(), addr, recovering, timeoutMs, forwarded);
  }

  /** Hand leadership to `to` (default: the most up-to-date voter) and wait until it leads. */
  transferLeadership(to?: string | null, timeoutMs?: number, forwarded = false): Promise<TransferResult> {
    return transferLeadership(this.membershipHost(), to ?? null, timeoutMs, forwarded);
  }

  // ---------------------------------------------------------------- the loop's inputs

  private onTick(): void {
    if (this.state !== 'running' || this.storageError !== null) return;
    this.core.tick();
    if (this.leaderWatch.role === 'leader') {
      // TTL expiry is the leader's job, on its own monotonic clock; the expiry itself is replicated.
      // This is the only place an expire is proposed (clients cannot send one: kv/command.ts).
      for (const { key, version } of this.sm.dueExpiries(this.now())) this.core.propose(encodeCommand({ op: 'expire', key, version }));
    }
    this.rejoin.observe();
    this.rejoin.tick(this.now());
    this.loop.schedule();
  }

  private receive(msg: Message): void {
    if (this.state !== 'running' || this.storageError !== null) return;
    this.lastHeard.set(msg.from, this.now());
    this.core.step(msg);
    this.loop.schedule();
  }

  private send(messages: Message[]): void {
    for (const m of messages) this.transport.send(m);
  }

  // ---------------------------------------------------------------- helpers

  private get storageError(): string | null {
    return this.loop?.storageError ?? null;
  }

  /** @internal For the forwarding loop (node/forward.ts). */
  waitForLeader(ms: number): Promise<void> {
    return this.leaderWatch.waitForLeader(ms);
  }

  /** @internal */
  waitForLeaderChange(from: string | null, ms: number, want?: string): Promise<string | null> {
    return this.leaderWatch.waitForLeaderChange(from, ms, want);
  }

  /** @internal One request to another member's port. */
  request(addr: string, req: RaftRequest, timeoutMs: number): Promise<RpcPayload> {
    return this.links.request(addr, req, timeoutMs);
  }

  get selfAddr(): string {
    return this.options.selfAddr;
  }

  private kvHost(): KvHost {
    return {
      node: this,
      core: this.core,
      schedule: () => this.loop.schedule(),
      stage: this.stage,
      sm: this.sm,
      storageError: this.storageError,
      readId: () => `${this.sessions.prefix}/r${++this.readSeq}`,
    };
  }

  private membershipHost(): MembershipHost {
    return {
      node: this,
      core: this.core,
      schedule: () => this.loop.schedule(),
      appliedMembership: () => this.sm.membership,
      onMembershipChange: (l) => this.onMembershipChange(l),
      forgetPeer: (addr) => {
        this.links.drop(addr);
        this.transport.disconnect(addr);
      },
      electionTimeoutMaxMs: this.options.electionTimeoutMaxMs,
    };
  }

  private connectionTimeoutMs(): number {
    // Like pysyncobj's connectionTimeout (3.5 s ≥ max election timeout): silence longer than this = gone.
    return Math.max(this.options.electionTimeoutMaxMs, 2 * this.options.electionTimeoutMinMs, DEFAULTS.heartbeatMs * 10);
  }

  /** @internal */
  assertRunning(): void {
    if (this.state !== 'running') throw new RaftStopped(this.state === 'new' || this.state === 'starting' ? `raft node ${this.options.selfAddr} is not started` : undefined);
  }
}

