/**
 * RaftNode: the pure core (src/raft/core) wired to durable storage, the TCP transport, the KV
 * state machine, a monotonic clock and timers. This is the object the DCS and `hactl raft node`
 * use: start/stop, write, read, watch, status, leadership and membership events.
 *
 * Decisions stay in the core; this file only moves data between it and the outside world
 * (see node/ready-loop.ts for the order of persistence, sending and applying).
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Entry, Membership, Message, Ready, Role } from './core/types.js';
import { encodeCommand, type KvCommand, type KvEntry, type KvEvent, type KvResult, type Logger } from './kv/index.js';
import type { RaftStorage } from './storage/types.js';
import type { RaftTransport, RpcPayload } from './transport/types.js';
import type { AdminStatus, MemberInfo, MembershipResult, TransferResult } from './admin/protocol.js';
import { handleRequest } from './node/requests.js';
import { buildStatus, buildMembers } from './node/status.js';
import { createCore, createStorage, createTransport, dialRpc } from './node/factories.js';
import type { RaftCore } from './core/index.js';
import { PeerLinks } from './node/leader-link.js';
import { DEFAULTS, resolveOptions, type RaftNodeOptions, type ResolvedOptions } from './node/options.js';
import { ReadyLoop } from './node/ready-loop.js';
import { RaftNotLeader, unwrapReply, type KvReply } from './node/rpc.js';
import { SessionPool } from './node/sessions.js';
import { StateMachine, writeKey } from './node/state-machine.js';
import { IndexWaiters, WaiterMap } from './node/waiters.js';
import { errorMessage, RaftRequestDenied, RaftStopped, RaftStorageError, RaftTimeout, RaftUnavailable } from './node/errors.js';
import { sleep } from './node/backoff.js';

export interface LeaderChange {
  leader: string | null;
  term: number;
  role: Role;
  isLeader: boolean;
}

export type ReadQuery = { key: string } | { prefix: string };

export interface ReadOptions {
  /** true (default): ReadIndex through the leader; false: this node's applied state, possibly stale. */
  linearizable?: boolean;
  timeoutMs?: number;
}

export interface WriteOptions {
  timeoutMs?: number;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export class RaftNode {
  readonly options: ResolvedOptions;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly events = new EventEmitter();
  private readonly sessions: SessionPool;
  private readonly writeWaiters = new WaiterMap<string, KvResult>();
  private readonly readWaiters = new WaiterMap<string, number>();
  private readonly appliedWaiters = new IndexWaiters();
  /** Peer → monotonic ms of the last message received from it (partner status, has_quorum). */
  readonly lastHeard = new Map<string, number>();
  private storage!: RaftStorage;
  private transport!: RaftTransport;
  private core!: RaftCore;
  private sm!: StateMachine;
  private loop!: ReadyLoop;
  private links!: PeerLinks;
  private ticker: NodeJS.Timeout | null = null;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private role: Role = 'follower';
  private leaderId: string | null = null;
  private term = 0;
  private readSeq = 0;
  private startedAt = 0;
  private storageError: string | null = null;
  private snapshotting = false;
  private lastSnapshotBytes = 0;
  private readonly injected: { storage?: RaftStorage; transport?: RaftTransport };

  constructor(options: RaftNodeOptions) {
    this.options = resolveOptions(options);
    this.logger = options.logger ?? silent;
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.sessions = new SessionPool(this.options.selfAddr);
    this.injected = { storage: options.storage, transport: options.transport };
    this.events.setMaxListeners(0);
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`raft node ${this.options.selfAddr} was already started`);
    this.state = 'starting';
    const o = this.options;
    this.startedAt = this.now();
    if (!o.dataDir) {
      this.logger.warn(`raft: no data_dir: node ${o.selfAddr} runs in memory and loses its state (term, vote, log) on restart`);
    }
    // Without a password the transport itself warns that the port is open (once, at listen).
    this.storage = this.injected.storage ?? createStorage(o, this.logger);
    const loaded = await this.storage.load();
    const bootstrap: Membership = { voters: [o.selfAddr, ...o.partnerAddrs].sort(), learners: [] };
    this.sm = new StateMachine(loaded.snapshot, bootstrap, this.logger, this.now());
    this.core = createCore(o, this.random, {
      hardState: loaded.hardState,
      snapshot: loaded.snapshot,
      entries: loaded.entries,
      bootstrapMembership: bootstrap,
    });
    this.term = loaded.hardState.term;
    this.logger.info(
      `raft: node ${o.selfAddr} starting: term ${loaded.hardState.term}, ${loaded.entries.length} log entries` +
        (loaded.snapshot ? `, snapshot at ${loaded.snapshot.meta.index}` : '') +
        `, ${o.dataDir ? `data_dir ${o.dataDir}` : 'in memory'}`,
    );
    this.loop = new ReadyLoop(loaded.hardState, this.core, this.storage, {
      send: (msgs) => this.send(msgs),
      applyDurable: (committed) => this.applyEntries(committed),
      apply: (rd, committed) => this.apply(rd, committed),
      afterAdvance: () => this.maybeSnapshot(),
      storageFailed: (err) => this.onStorageFailed(err),
      storageRecovered: (ms) => this.onStorageRecovered(ms),
    }, this.logger, this.now);
    this.links = new PeerLinks(dialRpc, o.password, Math.max(1000, o.electionTimeoutMaxMs));
    this.transport = this.injected.transport ?? createTransport(o, this.logger);
    this.transport.onMessage((msg) => this.receive(msg));
    this.transport.onRequest((req) => handleRequest(this, req));
    try {
      await this.transport.listen();
    } catch (err) {
      this.state = 'stopped';
      await this.storage.close().catch(() => {});
      throw err;
    }
    this.state = 'running';
    this.ticker = setInterval(() => this.onTick(), o.tickMs);
    this.loop.schedule();
    this.logger.info(`raft: node ${o.selfAddr} listening on ${o.bindAddr}; members ${bootstrap.voters.join(', ')}`);
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
      const target = this.bestTransferTarget();
      if (target) await this.transferLeadership(target, this.options.electionTimeoutMinMs).catch(() => {});
    }
    this.state = 'stopping';
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    await Promise.race([this.loop.whenIdle(), sleep(2_000)]);
    this.loop.stop();
    const stopped = new RaftStopped(`raft node ${this.options.selfAddr} is stopping`);
    this.writeWaiters.rejectAll(stopped);
    this.readWaiters.rejectAll(stopped);
    this.appliedWaiters.rejectAll(stopped);
    this.links.close();
    await this.transport.close().catch((err) => this.logger.warn(`raft: closing transport: ${errorMessage(err)}`));
    await this.storage.close().catch((err) => this.logger.warn(`raft: closing storage: ${errorMessage(err)}`));
    this.state = 'stopped';
    this.logger.info(`raft: node ${this.options.selfAddr} stopped`);
  }

  // ---------------------------------------------------------------- public state

  get isLeader(): boolean {
    return this.role === 'leader' && this.storageError === null;
  }

  get leader(): string | null {
    return this.leaderId;
  }

  get currentTerm(): number {
    return this.term;
  }

  get currentRole(): Role {
    return this.role;
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
      connectionTimeoutMs: this.connectionTimeoutMs(),
    });
  }

  members(): MemberInfo[] {
    return buildMembers(this.options.selfAddr, this.core.status(), this.sm.membership, this.lastHeard, this.now(), this.connectionTimeoutMs());
  }

  onLeaderChange(listener: (change: LeaderChange) => void): () => void {
    this.events.on('leader', listener);
    return () => this.events.off('leader', listener);
  }

  onMembershipChange(listener: (membership: Membership) => void): () => void {
    this.events.on('membership', listener);
    return () => this.events.off('membership', listener);
  }

  /** Every applied KV change on this node (set, delete, expiry), in log order. */
  watch(listener: (event: KvEvent) => void): () => void {
    return this.sm.onEvent(listener);
  }

  // ---------------------------------------------------------------- writes

  /**
   * Replicate one KV command and return its result once committed and applied. Followers forward
   * to the leader; a retried attempt keeps its (clientId, seq), so the command applies at most once.
   * Rejects with RaftTimeout when the outcome is unknown at the deadline.
   */
  async write(command: KvCommand, opts: WriteOptions = {}): Promise<KvResult> {
    this.assertRunning();
    const { session, seq } = this.sessions.acquire();
    try {
      // Validate before anything leaves the node (throws KvCommandError on a malformed command).
      encodeCommand({ clientId: session.clientId, seq, command });
      return await this.submitWrite(session.clientId, seq, command, this.now() + (opts.timeoutMs ?? this.options.requestTimeoutMs), false);
    } finally {
      this.sessions.release(session);
    }
  }

  /** @internal Entry point for local writes and for requests arriving over RPC. */
  async submitWrite(clientId: string, seq: number, command: KvCommand, deadline: number, forwarded: boolean): Promise<KvResult> {
    let lastError: unknown = null;
    for (let attempt = 0; ; attempt++) {
      this.assertRunning();
      const remaining = deadline - this.now();
      if (remaining <= 0) {
        throw new RaftTimeout(`write to ${describe(command)} not confirmed within the deadline` + (lastError ? ` (last error: ${errorMessage(lastError)})` : '') + '; it may or may not have been applied');
      }
      if (this.storageError !== null) throw new RaftStorageError(`raft node ${this.options.selfAddr} cannot persist its log (${this.storageError}); write not accepted`);
      if (this.isLeader) {
        try {
          return await this.proposeAndWait(clientId, seq, command, remaining);
        } catch (err) {
          if (!(err instanceof RaftNotLeader) || forwarded) throw err;
          lastError = err;
          continue;
        }
      }
      if (forwarded) throw new RaftNotLeader(`raft node ${this.options.selfAddr} is not the leader`, this.leaderId);
      const leader = this.leaderId;
      if (leader === null || leader === this.options.selfAddr) {
        await this.waitForLeader(Math.min(remaining, 100));
        continue;
      }
      try {
        const reply = unwrapReply(
          await this.links.request(leader, { kind: 'kv', op: 'write', clientId, seq, command, timeoutMs: remaining, forwarded: true }, remaining + 50),
        ) as Extract<KvReply, { result: KvResult }>;
        return reply.result;
      } catch (err) {
        if (err instanceof RaftStorageError || err instanceof RaftRequestDenied || err instanceof RaftStopped) throw err;
        lastError = err;
        // Leader moved, died or timed out: wait for news (or a little) and retry with the same seq.
        await this.waitForLeaderChange(leader, Math.min(deadline - this.now(), 20 * (attempt + 1)));
      }
    }
  }

  private proposeAndWait(clientId: string, seq: number, command: KvCommand, timeoutMs: number): Promise<KvResult> {
    const key = writeKey(clientId, seq);
    const done = this.writeWaiters.wait(key, timeoutMs, () => new RaftTimeout(`write to ${describe(command)} not applied within ${Math.round(timeoutMs)} ms`));
    if (this.core.propose(encodeCommand({ clientId, seq, command })) === null) {
      this.writeWaiters.reject(key, new RaftNotLeader('leadership lost before the write was proposed', this.leaderId));
    }
    this.loop.schedule();
    return done;
  }

  // ---------------------------------------------------------------- reads

  async get(key: string, opts: ReadOptions = {}): Promise<KvEntry | null> {
    const r = await this.read({ key }, opts);
    return r as KvEntry | null;
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
    const deadline = this.now() + (opts.timeoutMs ?? this.options.requestTimeoutMs);
    return this.submitRead(query, deadline, false);
  }

  /** @internal */
  readLocal(query: ReadQuery): KvEntry | null | KvEntry[] {
    return 'key' in query ? this.sm.kv.get(query.key) : this.sm.kv.list(query.prefix);
  }

  /** @internal */
  async submitRead(query: ReadQuery, deadline: number, forwarded: boolean): Promise<KvEntry | null | KvEntry[]> {
    let lastError: unknown = null;
    for (let attempt = 0; ; attempt++) {
      this.assertRunning();
      const remaining = deadline - this.now();
      if (remaining <= 0) throw new RaftTimeout(`linearizable read not confirmed in time` + (lastError ? ` (last error: ${errorMessage(lastError)})` : ''));
      if (this.isLeader) {
        try {
          await this.readBarrier(remaining);
          return this.readLocal(query);
        } catch (err) {
          if (!(err instanceof RaftNotLeader) || forwarded) throw err;
          lastError = err;
          continue;
        }
      }
      if (forwarded) throw new RaftNotLeader(`raft node ${this.options.selfAddr} is not the leader`, this.leaderId);
      const leader = this.leaderId;
      if (leader === null || leader === this.options.selfAddr) {
        await this.waitForLeader(Math.min(remaining, 100));
        continue;
      }
      try {
        const reply = unwrapReply(await this.links.request(leader, { kind: 'kv', op: 'read', ...query, linearizable: true, timeoutMs: remaining, forwarded: true }, remaining + 50));
        return 'entries' in reply ? (reply.entries as KvEntry[]) : ((reply.entry as KvEntry | null) ?? null);
      } catch (err) {
        if (err instanceof RaftStopped || err instanceof RaftRequestDenied) throw err;
        lastError = err;
        await this.waitForLeaderChange(leader, Math.min(deadline - this.now(), 20 * (attempt + 1)));
      }
    }
  }

  /** Leader: wait until a quorum confirmed leadership (ReadIndex) and the state machine caught up. */
  private async readBarrier(timeoutMs: number): Promise<void> {
    const id = `${this.sessions.prefix}/r${++this.readSeq}`;
    const indexReady = this.readWaiters.wait(id, timeoutMs, () => new RaftTimeout(`leadership not confirmed within ${Math.round(timeoutMs)} ms`));
    this.core.readIndex(id);
    this.loop.schedule();
    const index = await indexReady;
    await this.appliedWaiters.wait(this.sm.appliedIndex, index, timeoutMs, () => new RaftTimeout(`state machine did not reach read index ${index} in time`));
  }

  // ---------------------------------------------------------------- membership and leadership

  /** Add a member (it catches up as a learner, then votes). Forwarded to the leader. */
  async addMember(addr: string, timeoutMs = 30_000): Promise<MembershipResult> {
    return this.changeMembership('add', addr, timeoutMs);
  }

  async removeMember(addr: string, timeoutMs = 30_000): Promise<MembershipResult> {
    return this.changeMembership('remove', addr, timeoutMs);
  }

  /** @internal */
  async changeMembership(op: 'add' | 'remove', addr: string, timeoutMs: number, forwarded = false): Promise<MembershipResult> {
    this.assertRunning();
    const deadline = this.now() + timeoutMs;
    const verb = op.toUpperCase();
    for (;;) {
      if (this.now() >= deadline) throw new RaftTimeout(`${op} ${addr} not confirmed within ${timeoutMs} ms`);
      if (this.isLeader) return this.changeMembershipHere(op, addr, deadline);
      if (forwarded) throw new RaftNotLeader(`raft node ${this.options.selfAddr} is not the leader`, this.leaderId);
      const leader = this.leaderId;
      if (leader === null || leader === this.options.selfAddr) {
        await this.waitForLeader(Math.min(deadline - this.now(), 200));
        continue;
      }
      const reply = unwrapReply(await this.links.request(leader, { kind: 'admin', op, addr, timeoutMs: deadline - this.now(), forwarded: true }, deadline - this.now() + 100));
      const result = reply.result as MembershipResult;
      if (!result || typeof result.message !== 'string') throw new Error(`malformed ${verb} reply from ${leader}`);
      return result;
    }
  }

  private async changeMembershipHere(op: 'add' | 'remove', addr: string, deadline: number): Promise<MembershipResult> {
    const self = this.options.selfAddr;
    const done = (mm: Membership) => (op === 'add' ? mm.voters.includes(addr) : !mm.voters.includes(addr) && !mm.learners.includes(addr));
    const result = (mm: Membership): MembershipResult => ({ message: `SUCCESS ${op.toUpperCase()} ${addr}`, voters: mm.voters, learners: mm.learners });
    const m = this.core.status().membership;
    if (op === 'add' && m.voters.includes(addr) && done(this.sm.membership)) return result(this.sm.membership);
    if (op === 'remove' && !m.voters.includes(addr) && !m.learners.includes(addr)) {
      if (done(this.sm.membership)) throw new RaftRequestDenied(`${addr} is not a member (members: ${[...m.voters, ...m.learners].join(', ')})`);
    } else if (op === 'remove' && addr === self) {
      throw new RaftRequestDenied(`${addr} is the leader: transfer leadership first (hactl raft transfer), then remove it through the new leader`);
    } else if (!(op === 'add' && m.voters.includes(addr))) {
      // One change at a time: a transient refusal (previous change not committed, leader's first entry
      // not committed yet) is retried until the deadline; anything else is the caller's mistake.
      for (;;) {
        const r = this.core.proposeMembership(op === 'add' ? { type: 'addVoter', node: addr } : { type: 'remove', node: addr });
        this.loop.schedule();
        if (r.ok) break;
        if (!/retry|not committed yet|in progress|catching up/.test(r.reason)) throw new RaftRequestDenied(`${op} ${addr}: ${r.reason}`);
        if (this.now() >= deadline) throw new RaftTimeout(`${op} ${addr}: ${r.reason}`);
        if (!this.isLeader) throw new RaftNotLeader('leadership lost during the membership change', this.leaderId);
        await sleep(20);
      }
    }
    // Wait until the change is applied here (an added member also catches up as a learner and is promoted).
    while (!done(this.sm.membership)) {
      const left = deadline - this.now();
      if (left <= 0) {
        throw new RaftTimeout(op === 'add'
          ? `${addr} did not become a voter in time (is it running and reachable? it catches up as a learner first)`
          : `removal of ${addr} not committed in time`);
      }
      if (!this.isLeader) throw new RaftNotLeader('leadership lost during the membership change', this.leaderId);
      await new Promise<void>((resolve) => {
        const off = this.onMembershipChange(finish);
        const t = setTimeout(finish, Math.min(left, 100));
        function finish() {
          clearTimeout(t);
          off();
          resolve();
        }
      });
    }
    if (op === 'remove') {
      this.links.drop(addr);
      this.transport.disconnect(addr);
    }
    return result(this.sm.membership);
  }

  /** Hand leadership to `to` (default: the most up-to-date voter) and wait until it leads. */
  async transferLeadership(to?: string | null, timeoutMs?: number, forwarded = false): Promise<TransferResult> {
    this.assertRunning();
    const limit = timeoutMs ?? Math.max(2_000, 2 * this.options.electionTimeoutMaxMs);
    const deadline = this.now() + limit;
    for (;;) {
      if (this.now() >= deadline) throw new RaftTimeout(`leadership transfer not completed within ${limit} ms`);
      if (this.isLeader) break;
      if (forwarded) throw new RaftNotLeader(`raft node ${this.options.selfAddr} is not the leader`, this.leaderId);
      const leader = this.leaderId;
      if (leader === null || leader === this.options.selfAddr) {
        await this.waitForLeader(Math.min(deadline - this.now(), 200));
        continue;
      }
      if (to && to === leader) return { message: `SUCCESS TRANSFER ${to}`, from: leader, to, elapsedMs: 0 };
      const reply = unwrapReply(await this.links.request(leader, { kind: 'admin', op: 'transfer', addr: to ?? undefined, timeoutMs: deadline - this.now(), forwarded: true }, deadline - this.now() + 100));
      return reply.result as TransferResult;
    }
    const self = this.options.selfAddr;
    const target = to ?? this.bestTransferTarget();
    if (!target) throw new RaftRequestDenied('no other voter to transfer leadership to');
    if (target === self) return { message: `SUCCESS TRANSFER ${self}`, from: self, to: self, elapsedMs: 0 };
    const started = this.now();
    const became = this.waitForLeaderChange(self, deadline - this.now(), target);
    const r = this.core.transferLeadership(target);
    if (!r.ok) {
      // Settle the waiter quietly; the refusal is the answer.
      void became;
      throw new RaftRequestDenied(`transfer to ${target}: ${r.reason}`);
    }
    this.loop.schedule();
    const leader = await became;
    if (leader !== target) {
      throw new RaftUnavailable(leader ? `leadership went to ${leader} instead of ${target}` : `leadership transfer to ${target} did not complete within ${limit} ms`);
    }
    return { message: `SUCCESS TRANSFER ${target}`, from: self, to: target, elapsedMs: Math.round(this.now() - started) };
  }

  /** The voter with the highest match index (ties: address order), excluding self. */
  private bestTransferTarget(): string | null {
    const view = this.core.status();
    const self = this.options.selfAddr;
    const candidates = Object.entries(view.peers)
      .filter(([id, p]) => id !== self && view.membership.voters.includes(id) && p.recentActive)
      .sort(([a, pa], [b, pb]) => pb.match - pa.match || (a < b ? -1 : 1));
    return candidates[0]?.[0] ?? view.membership.voters.find((v) => v !== self) ?? null;
  }

  // ---------------------------------------------------------------- the loop's inputs

  private onTick(): void {
    if (this.state !== 'running' || this.storageError !== null) return;
    this.core.tick();
    if (this.role === 'leader') {
      // TTL expiry is the leader's job, on its own monotonic clock; the expiry itself is replicated.
      for (const { key, version } of this.sm.dueExpiries(this.now())) {
        this.core.propose(encodeCommand({ op: 'expire', key, version }));
      }
    }
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

  /** Apply stage of one Ready batch (persistence already done; `committed` = what is left to apply). */
  private apply(rd: Ready, committed: readonly Entry[]): void {
    if (rd.snapshot !== null && rd.snapshot.meta.index > this.sm.appliedIndex) {
      this.sm.install(rd.snapshot, this.now());
      this.logger.info(`raft: installed snapshot at index ${rd.snapshot.meta.index} (term ${rd.snapshot.meta.term})`);
      this.events.emit('membership', this.sm.membership);
    }
    this.applyEntries(committed);
    for (const rs of rd.readStates) this.readWaiters.resolve(rs.requestId, rs.index);
    for (const id of rd.failedReads) this.readWaiters.reject(id, new RaftNotLeader('leadership could not be confirmed for the read', rd.softState.leader));
    this.noteSoftState(rd);
  }

  private applyEntries(committed: readonly Entry[]): void {
    if (committed.length === 0) return;
    const now = this.now();
    for (const entry of committed) {
      const { write, membershipChanged } = this.sm.apply(entry, now);
      if (write) this.writeWaiters.resolve(write.key, write.result);
      if (membershipChanged) {
        this.logger.info(`raft: membership now voters [${this.sm.membership.voters.join(', ')}]` + (this.sm.membership.learners.length ? ` learners [${this.sm.membership.learners.join(', ')}]` : ''));
        this.events.emit('membership', this.sm.membership);
      }
    }
    this.appliedWaiters.advanceTo(this.sm.appliedIndex);
  }

  private noteSoftState(rd: Ready): void {
    const s = rd.softState;
    if (s.role === this.role && s.leader === this.leaderId && s.term === this.term) return;
    const wasLeader = this.role === 'leader';
    const leaderChanged = s.leader !== this.leaderId;
    this.role = s.role;
    this.leaderId = s.leader;
    this.term = s.term;
    if (wasLeader && s.role !== 'leader') {
      // Waiting writes may still commit under the next leader; their retries keep (clientId, seq).
      this.writeWaiters.rejectAll(new RaftNotLeader('this node lost leadership', s.leader));
      this.sm.expiring.reset();
    }
    if (s.role === 'leader' && !wasLeader) this.sm.expiring.reset();
    if (leaderChanged || wasLeader !== (s.role === 'leader')) {
      this.logger.info(
        s.role === 'leader'
          ? `raft: became leader in term ${s.term}`
          : `raft: ${s.leader ? `leader is ${s.leader}` : 'no leader'} in term ${s.term} (this node: ${s.role})`,
      );
      const change: LeaderChange = { leader: s.leader, term: s.term, role: s.role, isLeader: s.role === 'leader' };
      this.events.emit('leader', change);
    }
  }

  /** Synchronous up to saveSnapshot (its place in the storage order); the save runs beside the loop. */
  private maybeSnapshot(): void {
    const sm = this.sm;
    if (this.snapshotting || this.state !== 'running') return;
    // Amortised: besides the entry count, the log written since the last snapshot must be at least
    // as large as that snapshot, so snapshot I/O never exceeds log I/O (a big store with small
    // writes would otherwise rewrite megabytes every N entries). snapshotLogBytes is the hard cap.
    const due = sm.entriesSinceSnapshot >= this.options.snapshotEntries && sm.bytesSinceSnapshot >= this.lastSnapshotBytes;
    if (!due && sm.bytesSinceSnapshot < this.options.snapshotLogBytes) return;
    this.snapshotting = true;
    const started = this.now();
    let saving: Promise<void>;
    let bytes = 0;
    let index = 0;
    try {
      const snapshot = this.core.compact(sm.appliedIndex, sm.snapshotData());
      bytes = snapshot.data.byteLength;
      index = snapshot.meta.index;
      saving = this.storage.saveSnapshot(snapshot);
    } catch (err) {
      saving = Promise.reject(err);
    }
    saving
      .then(() => {
        this.lastSnapshotBytes = bytes;
        this.logger.info(`raft: snapshot at index ${index} (${bytes} bytes, ${Math.round(this.now() - started)} ms); log compacted`);
      })
      .catch((err: unknown) => this.logger.error(`raft: snapshot failed, log not compacted: ${errorMessage(err)}`))
      .finally(() => {
        this.snapshotting = false;
      });
  }

  private onStorageFailed(err: unknown): void {
    this.storageError = errorMessage(err);
    const wasLeader = this.role === 'leader';
    this.logger.error(
      `raft: cannot persist the log (${this.storageError}): ` +
        (wasLeader ? 'stepping down so a healthy member can lead; ' : '') +
        'pending writes are rejected, nothing unpersisted is acknowledged; retrying with backoff',
    );
    // Always: besides stepping a leader down, this stops campaigning and re-emits the unpersisted batch.
    this.core.stepDown(`storage failure: ${this.storageError}`);
    const err2 = new RaftStorageError(`raft node ${this.options.selfAddr} could not persist its log (${this.storageError}); the write was not acknowledged and may or may not be applied later`);
    this.writeWaiters.rejectAll(err2);
    this.readWaiters.rejectAll(err2);
  }

  private onStorageRecovered(downForMs: number): void {
    this.logger.info(`raft: persisting works again after ${Math.round(downForMs)} ms; resuming`);
    this.storageError = null;
    this.core.setPersistHealthy(true);
  }

  // ---------------------------------------------------------------- helpers

  private connectionTimeoutMs(): number {
    // Like pysyncobj's connectionTimeout (3.5 s ≥ max election timeout): silence longer than this = gone.
    return Math.max(this.options.electionTimeoutMaxMs, 2 * this.options.electionTimeoutMinMs, DEFAULTS.heartbeatMs * 10);
  }

  private assertRunning(): void {
    if (this.state !== 'running') throw new RaftStopped(this.state === 'new' || this.state === 'starting' ? `raft node ${this.options.selfAddr} is not started` : undefined);
  }

  /** Resolves when some leader is known, or after timeoutMs. */
  private waitForLeader(timeoutMs: number): Promise<void> {
    if (this.leaderId !== null) return sleep(Math.min(timeoutMs, 10));
    return new Promise((resolve) => {
      const timer = setTimeout(finish, Math.max(0, timeoutMs));
      const off = this.onLeaderChange((c) => {
        if (c.leader !== null) finish();
      });
      function finish() {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  }

  /**
   * Resolves with the new leader once it differs from `from` (and equals `want` when given), or with
   * the current leader when timeoutMs passes.
   */
  private waitForLeaderChange(from: string | null, timeoutMs: number, want?: string): Promise<string | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(this.leaderId), Math.max(0, timeoutMs));
      const off = this.onLeaderChange((c) => {
        if (c.leader !== null && c.leader !== from && (want === undefined || c.leader === want)) finish(c.leader);
      });
      function finish(leader: string | null) {
        clearTimeout(timer);
        off();
        resolve(leader);
      }
    });
  }

  /** @internal Used by the request handler. */
  handlerNow(): number {
    return this.now();
  }
}

function describe(c: KvCommand): string {
  return c.op === 'deletePrefix' ? `prefix ${c.prefix}` : `key ${c.key}`;
}

export type { RpcPayload };
