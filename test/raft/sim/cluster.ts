/**
 * Deterministic Raft cluster simulator: N RaftCores over a simulated network, disk and clock, all
 * driven by one seeded PRNG and one virtual-time event queue, so a seed reproduces a run exactly.
 *
 * Using it (e.g. a KV store and a linearizability checker on top):
 *
 *   const sim = new SimCluster({ seed, nodes: 3, stateMachine: (ctx) => new MyKv(ctx) });
 *   const w = sim.submit(encode(cmd));              // write through the current leader
 *   const r = sim.read((sm) => (sm as MyKv).get(k)); // linearizable read (ReadIndex)
 *   sim.runFor(5_000);                               // advance virtual time (ms)
 *   w.status; w.result; w.invokedAt; w.completedAt   // see ClientOp
 *   sim.history                                      // every ClientOp, in invocation order
 *
 * - A write is 'ok' once its entry was committed and applied on the node it was proposed to, with
 *   the state machine's apply() return value as `result`; 'failed' when it certainly did not and
 *   will not take effect (no leader, or another entry committed at its index); 'unknown' when the
 *   proposing node crashed, or `timeoutMs` passed: it may or may not take effect (indeterminate).
 * - A read is 'ok' with `result = fn(sm)` evaluated on the serving node once it applied up to the
 *   read index; 'failed' otherwise (reads have no effect, so failed and unknown are the same).
 * - State machines get a SimContext: their node id and that node's local monotonic clock
 *   (`ctx.now()`, drifting against virtual time by the node's clock rate), for TTL logic.
 * - Faults: setNetwork(), cutLink()/isolate()/heal(), pause(), crash()/restart(), crashAll()/
 *   restartAll(); membership: addNode() then changeMembership(). Clock rates differ per node.
 * - Safety invariants (see invariants.ts) are checked on every event and throw SafetyViolation;
 *   `sim.trace` keeps the last events for the failure message.
 */
import { RaftCore } from '../../../src/raft/core/raft.js';
import type { MembershipChange, MembershipChangeResult } from '../../../src/raft/core/membership-change.js';
import type { Entry, Message, NodeId, Ready } from '../../../src/raft/core/types.js';
import { SimDisk } from './disk.js';
import { SafetyChecker } from './invariants.js';
import { EventQueue, Rng } from './prng.js';
import { type ClientOp, LogStateMachine, type NetworkOptions, type OpStatus, type SimContext, type SimOptions, type SimStateMachine } from './sim-types.js';

export { LogStateMachine };
export type { ClientOp, NetworkOptions, OpStatus, SimContext, SimOptions, SimStateMachine };

type Event =
  | { kind: 'tick'; node: NodeId; inc: number }
  | { kind: 'deliver'; msg: Message }
  | { kind: 'synced'; node: NodeId; inc: number }
  | { kind: 'call'; fn: () => void };

interface SimNode {
  id: NodeId;
  core: RaftCore | null;
  disk: SimDisk;
  sm: SimStateMachine;
  rng: Rng;
  rate: number;
  /** Bumped at each crash so events of the previous incarnation are ignored. */
  inc: number;
  pausedUntil: number;
  inFlight: Ready | null;
  appliedIndex: number;
  snapshotIndex: number;
  /** Term in which this node was last seen becoming leader (its log checked for completeness). */
  leaderTerm: number;
  /** Started without a config, to be added by a membership change. */
  joining: boolean;
  pendingWrites: Map<number, ClientOp>;
  pendingReads: Map<string, ClientOp & { fn: (sm: SimStateMachine) => unknown }>;
  readWaiters: { index: number; op: ClientOp & { fn: (sm: SimStateMachine) => unknown } }[];
}

const DEFAULT_CONFIG = {
  heartbeatTicks: 2,
  electionTicksMin: 8,
  electionTicksMax: 28,
  maxEntriesPerAppend: 64,
  maxInflightAppends: 8,
  snapshotChunkBytes: 256,
  catchUpEntries: 20,
};

export class SimCluster {
  now = 0;
  readonly rng: Rng;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly history: ClientOp[] = [];
  readonly checker = new SafetyChecker();
  readonly trace: string[] = [];
  /** Called whenever an entry is applied on a node (after the state machine ran). */
  onApply: ((node: NodeId, entry: Entry, result: unknown) => void) | null = null;
  net: NetworkOptions;
  stats = { events: 0, delivered: 0, dropped: 0, crashes: 0, elections: 0 };

  private queue = new EventQueue<Event>();
  private cut = new Set<string>();
  private nextOpId = 1;
  private readonly tickMs: number;
  private readonly cfg: typeof DEFAULT_CONFIG;
  private readonly makeSm: (ctx: SimContext) => SimStateMachine;
  private readonly compactEvery: number;
  private readonly fsyncMs: [number, number];
  private readonly drift: number;
  private readonly tornRate: number;
  private readonly initialVoters: NodeId[];

  constructor(opts: SimOptions) {
    this.rng = new Rng(opts.seed);
    this.tickMs = opts.tickMs ?? 50;
    this.cfg = { ...DEFAULT_CONFIG, ...opts.config };
    this.makeSm = opts.stateMachine ?? (() => new LogStateMachine());
    this.compactEvery = opts.compactEvery ?? 0;
    this.fsyncMs = opts.fsyncMs ?? [0.1, 2];
    this.drift = opts.clockDrift ?? 0;
    this.tornRate = opts.tornRate ?? 0.5;
    this.net = { lossRate: 0, duplicateRate: 0, delayMs: [0.1, 2], ...opts.network };
    const ids = typeof opts.nodes === 'number' ? Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`) : opts.nodes;
    this.initialVoters = ids;
    for (const id of ids) this.createNode(id);
  }

  // ---- driving time ----

  /** Process one event; false when the queue is empty. */
  step(): boolean {
    const ev = this.queue.pop();
    if (!ev) return false;
    this.now = Math.max(this.now, ev.at);
    this.stats.events++;
    this.handle(ev.item);
    return true;
  }

  runFor(ms: number): void {
    const until = this.now + ms;
    while ((this.queue.peekTime() ?? Infinity) <= until) this.step();
    this.now = until;
  }

  /** Run until pred() holds (checked after each event); returns whether it did within maxMs. */
  runUntil(pred: () => boolean, maxMs: number): boolean {
    const until = this.now + maxMs;
    if (pred()) return true;
    while ((this.queue.peekTime() ?? Infinity) <= until) {
      this.step();
      if (pred()) return true;
    }
    this.now = until;
    return pred();
  }

  /** Run fn at virtual time now + delayMs (client workloads, fault schedules). */
  schedule(delayMs: number, fn: () => void): void {
    this.queue.push(this.now + delayMs, { kind: 'call', fn });
  }

  // ---- clients ----

  /** Propose a write on `node` (default: the current leader). */
  submit(data: Uint8Array, opts: { node?: NodeId; timeoutMs?: number } = {}): ClientOp {
    const target = opts.node ?? this.leader();
    const op: ClientOp = { id: this.nextOpId++, kind: 'write', node: target, data, invokedAt: this.now, status: 'pending' };
    this.history.push(op);
    const n = target === null ? undefined : this.nodes.get(target);
    const at = n?.core && !this.paused(n) ? n.core.propose(data) : null;
    if (!n || at === null) {
      this.finish(op, 'failed', undefined, 'not leader');
      return op;
    }
    op.index = at.index;
    op.term = at.term;
    n.pendingWrites.set(at.index, op);
    this.pump(n);
    if (opts.timeoutMs !== undefined) this.schedule(opts.timeoutMs, () => this.finish(op, 'unknown', undefined, 'timeout'));
    return op;
  }

  /** Linearizable read through ReadIndex on `node` (default: the current leader). */
  read(fn: (sm: SimStateMachine) => unknown, opts: { node?: NodeId; timeoutMs?: number } = {}): ClientOp {
    const target = opts.node ?? this.leader();
    const op = { id: this.nextOpId++, kind: 'read' as const, node: target, invokedAt: this.now, status: 'pending' as OpStatus, fn };
    this.history.push(op);
    const n = target === null ? undefined : this.nodes.get(target);
    if (!n?.core || this.paused(n)) {
      this.finish(op, 'failed', undefined, 'node down');
      return op;
    }
    n.pendingReads.set(String(op.id), op);
    n.core.readIndex(String(op.id));
    this.pump(n);
    if (opts.timeoutMs !== undefined) this.schedule(opts.timeoutMs, () => this.finish(op, 'failed', undefined, 'timeout'));
    return op;
  }

  /** A node that believes it leads, with the highest term (null if none is up). */
  leader(): NodeId | null {
    let best: NodeId | null = null;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (!n.core) continue;
      const st = n.core.status();
      if (st.role === 'leader' && st.term > bestTerm) {
        best = n.id;
        bestTerm = st.term;
      }
    }
    return best;
  }

  core(id: NodeId): RaftCore | null {
    return this.nodes.get(id)?.core ?? null;
  }

  stateMachine(id: NodeId): SimStateMachine {
    return this.nodes.get(id)!.sm;
  }

  appliedIndex(id: NodeId): number {
    return this.nodes.get(id)!.appliedIndex;
  }

  /** A node's local clock (ms). */
  clock(id: NodeId): number {
    return this.now * this.nodes.get(id)!.rate;
  }

  // ---- faults ----

  setNetwork(net: Partial<NetworkOptions>): void {
    this.net = { ...this.net, ...net };
  }

  cutLink(from: NodeId, to: NodeId, oneWay = false): void {
    this.cut.add(`${from}>${to}`);
    if (!oneWay) this.cut.add(`${to}>${from}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Stop a node (SIGSTOP / long GC): no ticks, incoming messages wait until it resumes. */
  pause(id: NodeId, ms: number): void {
    const n = this.nodes.get(id)!;
    n.pausedUntil = Math.max(n.pausedUntil, this.now + ms);
    this.log(`pause ${id} ${ms.toFixed(0)}ms`);
  }

  resumeAll(): void {
    for (const n of this.nodes.values()) n.pausedUntil = Math.min(n.pausedUntil, this.now);
  }

  crash(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (!n.core) return;
    const r = n.disk.crash(n.rng, this.tornRate);
    this.log(`crash ${id} (kept ${r.keptOps} unsynced writes, lost ${r.lostOps}${r.torn ? ', torn tail' : ''})`);
    this.stats.crashes++;
    n.core = null;
    n.inc++;
    n.inFlight = null;
    n.pausedUntil = 0;
    for (const op of n.pendingWrites.values()) this.finish(op, 'unknown', undefined, 'node crashed');
    for (const op of n.pendingReads.values()) this.finish(op, 'failed', undefined, 'node crashed');
    n.pendingWrites.clear();
    n.pendingReads.clear();
    n.readWaiters = [];
  }

  restart(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (n.core) return;
    this.checker.restarted(id, n.disk.durable);
    this.start(n);
    this.log(`restart ${id} term=${n.disk.durable.hardState.term}`);
  }

  crashAll(): void {
    for (const id of this.nodes.keys()) this.crash(id);
  }

  restartAll(): void {
    for (const id of this.nodes.keys()) this.restart(id);
  }

  isUp(id: NodeId): boolean {
    return this.nodes.get(id)?.core != null;
  }

  // ---- membership ----

  /** Start a brand-new empty node that knows no config; it joins once the leader adds it. */
  addNode(id: NodeId): void {
    if (this.nodes.has(id)) throw new Error(`node ${id} exists`);
    this.createNode(id, true);
  }

  changeMembership(change: MembershipChange): MembershipChangeResult {
    const leader = this.leader();
    const core = leader === null ? null : this.core(leader);
    if (!core) return { ok: false, reason: 'no leader' };
    const r = core.proposeMembership(change);
    this.log(`membership ${change.type} ${change.node} via ${leader}: ${r.ok ? 'ok' : r.reason}`);
    this.pump(this.nodes.get(leader!)!);
    return r;
  }

  /** Voters and learners per the leader (or the initial voters when there is none). */
  members(): NodeId[] {
    const leader = this.leader();
    const m = leader ? this.core(leader)!.status().membership : { voters: this.initialVoters, learners: [] };
    return [...m.voters, ...m.learners];
  }

  // ---- internals ----

  private createNode(id: NodeId, joining = false): void {
    const rng = this.rng.fork();
    const rate = 1 + (rng.next() * 2 - 1) * this.drift;
    const n: SimNode = {
      id,
      core: null,
      disk: new SimDisk(),
      sm: null as unknown as SimStateMachine,
      rng,
      rate,
      inc: 0,
      pausedUntil: 0,
      inFlight: null,
      appliedIndex: 0,
      snapshotIndex: 0,
      leaderTerm: 0,
      joining,
      pendingWrites: new Map(),
      pendingReads: new Map(),
      readWaiters: [],
    };
    n.sm = this.makeSm({ id, now: () => this.now * n.rate });
    this.nodes.set(id, n);
    this.start(n);
  }

  private start(n: SimNode): void {
    const d = n.disk.durable;
    n.core = new RaftCore(
      { id: n.id, random: n.rng.next, ...this.cfg },
      {
        hardState: { ...d.hardState },
        snapshot: d.snapshot,
        entries: [...d.entries],
        bootstrapMembership: n.joining ? { voters: [], learners: [] } : { voters: this.initialVoters, learners: [] },
      },
    );
    n.sm.restore(d.snapshot?.data ?? null);
    n.appliedIndex = d.snapshot?.meta.index ?? 0;
    n.snapshotIndex = n.appliedIndex;
    this.queue.push(this.now + this.tickMs * n.rng.next(), { kind: 'tick', node: n.id, inc: n.inc });
  }

  private paused(n: SimNode): boolean {
    return n.pausedUntil > this.now;
  }

  private handle(ev: Event): void {
    switch (ev.kind) {
      case 'call':
        ev.fn();
        return;
      case 'tick': {
        const n = this.nodes.get(ev.node)!;
        if (ev.inc !== n.inc || !n.core) return;
        // The tick period in virtual time is tickMs / rate: a fast clock ticks more often.
        const next = this.tickMs / n.rate;
        if (this.paused(n)) {
          this.queue.push(n.pausedUntil, { kind: 'tick', node: n.id, inc: n.inc });
          return;
        }
        n.core.tick();
        this.pump(n);
        this.queue.push(this.now + next, { kind: 'tick', node: n.id, inc: n.inc });
        return;
      }
      case 'deliver': {
        const n = this.nodes.get(ev.msg.to);
        if (!n?.core) return;
        if (this.paused(n)) {
          this.queue.push(n.pausedUntil, ev);
          return;
        }
        this.stats.delivered++;
        n.core.step(ev.msg);
        this.pump(n);
        return;
      }
      case 'synced': {
        const n = this.nodes.get(ev.node)!;
        if (ev.inc !== n.inc || !n.core || !n.inFlight) return;
        if (this.paused(n)) {
          this.queue.push(n.pausedUntil, ev);
          return;
        }
        n.disk.sync();
        this.checker.durable(n.id, n.disk.durable.hardState);
        this.afterPersist(n, n.inFlight);
        return;
      }
    }
  }

  /** Take a Ready if the node is idle: write it to disk, and finish it after a simulated fsync. */
  private pump(n: SimNode): void {
    while (n.core && !n.inFlight && n.core.hasReady()) {
      const rd = n.core.ready();
      n.inFlight = rd;
      if (rd.snapshot) n.disk.installSnapshot(rd.snapshot);
      if (rd.entries.length > 0) {
        this.checker.written(n.id, n.disk.written, rd.entries);
        n.disk.appendEntries(rd.entries);
      }
      if (rd.hardState) n.disk.setHardState(rd.hardState);
      if (rd.softState.role === 'leader') this.newLeader(n, rd.softState.term);
      if (n.disk.hasPending) {
        this.queue.push(this.now + n.rng.range(this.fsyncMs[0], this.fsyncMs[1]), { kind: 'synced', node: n.id, inc: n.inc });
        return;
      }
      this.afterPersist(n, rd);
    }
  }

  private newLeader(n: SimNode, term: number): void {
    this.checker.leader(n.id, term);
    if (n.leaderTerm === term) return;
    n.leaderTerm = term;
    this.checker.leaderLog(n.id, term, n.disk.written);
    this.stats.elections++;
    this.log(`${n.id} leader term=${term}`);
  }

  private afterPersist(n: SimNode, rd: Ready): void {
    const core = n.core!;
    for (const m of rd.messages) this.send(m);
    if (rd.snapshot) {
      n.sm.restore(rd.snapshot.data);
      n.appliedIndex = rd.snapshot.meta.index;
      n.snapshotIndex = n.appliedIndex;
      for (const [index, op] of n.pendingWrites) {
        if (index <= n.appliedIndex) {
          this.finish(op, 'unknown', undefined, 'superseded by snapshot');
          n.pendingWrites.delete(index);
        }
      }
    }
    for (const e of rd.committed) this.applyEntry(n, e, rd.softState.term);
    for (const rs of rd.readStates) {
      const op = n.pendingReads.get(rs.requestId);
      if (op) n.readWaiters.push({ index: rs.index, op });
    }
    for (const id of rd.failedReads) {
      const op = n.pendingReads.get(id);
      if (op) this.finish(op, 'failed', undefined, 'not leader');
      n.pendingReads.delete(id);
    }
    this.serveReads(n);
    core.advance(rd);
    n.inFlight = null;
    this.maybeCompact(n);
  }

  private applyEntry(n: SimNode, e: Entry, term: number): void {
    if (e.index !== n.appliedIndex + 1) throw new Error(`${n.id}: applied ${e.index} after ${n.appliedIndex}`);
    this.checker.apply(n.id, e, term);
    n.appliedIndex = e.index;
    const result = e.type === 'normal' ? n.sm.apply(e) : undefined;
    this.onApply?.(n.id, e, result);
    const op = n.pendingWrites.get(e.index);
    if (op) {
      n.pendingWrites.delete(e.index);
      if (op.term === e.term) this.finish(op, 'ok', result);
      else this.finish(op, 'failed', undefined, `entry ${e.index} was replaced by term ${e.term}`);
    }
  }

  private serveReads(n: SimNode): void {
    if (n.readWaiters.length === 0) return;
    const still: SimNode['readWaiters'] = [];
    for (const w of n.readWaiters) {
      if (w.index <= n.appliedIndex) {
        n.pendingReads.delete(String(w.op.id));
        this.finish(w.op, 'ok', w.op.fn(n.sm));
      } else {
        still.push(w);
      }
    }
    n.readWaiters = still;
  }

  private maybeCompact(n: SimNode): void {
    if (this.compactEvery <= 0 || n.appliedIndex - n.snapshotIndex < this.compactEvery || !n.core) return;
    const snap = n.core.compact(n.appliedIndex, n.sm.snapshot());
    n.disk.saveSnapshot(snap);
    n.snapshotIndex = n.appliedIndex;
  }

  private send(m: Message): void {
    // Pre-vote messages carry a term nobody entered yet; every other term was made durable first.
    if (m.type !== 'PreVote' && m.type !== 'PreVoteResp') this.checker.sent(m.from, m.term);
    if (this.cut.has(`${m.from}>${m.to}`) || this.rng.chance(this.net.lossRate)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.rng.chance(this.net.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      // Independent delays per message reorder them, as a lossy datagram network would.
      this.queue.push(this.now + this.rng.range(this.net.delayMs[0], this.net.delayMs[1]), { kind: 'deliver', msg: m });
    }
  }

  private finish(op: ClientOp, status: OpStatus, result?: unknown, error?: string): void {
    if (op.status !== 'pending') return;
    op.status = status;
    op.completedAt = this.now;
    if (result !== undefined) op.result = result;
    if (error !== undefined) op.error = error;
  }

  /** Node states and the recent trace, for failure messages. */
  describe(): string {
    const lines = [`t=${this.now.toFixed(1)}ms`];
    for (const n of this.nodes.values()) {
      if (!n.core) {
        lines.push(`${n.id}: down`);
        continue;
      }
      const st = n.core.status();
      const peers = Object.entries(st.peers)
        .map(([p, pr]) => `${p}:${pr.state}/m${pr.match}/n${pr.next}`)
        .join(' ');
      lines.push(
        `${n.id}: ${st.role} term=${st.term} vote=${st.vote} leader=${st.leader} commit=${st.commit} applied=${n.appliedIndex} ` +
          `last=${st.lastIndex}/t${st.lastTerm} snap=${st.snapshotIndex} voters=${st.membership.voters.join(',')} ` +
          `learners=${st.membership.learners.join(',')} cfgIdx=${st.membershipIndex} paused=${this.paused(n)} inflight=${n.inFlight !== null} ${peers}`,
      );
    }
    return [...lines, '--- trace ---', ...this.trace.slice(-40)].join('\n');
  }

  log(line: string): void {
    this.trace.push(`${this.now.toFixed(1)}ms ${line}`);
    if (this.trace.length > 200) this.trace.splice(0, this.trace.length - 100);
  }
}
