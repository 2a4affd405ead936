/**
 * A synchronous in-memory network of RaftCore instances for scenario tests: every Ready is
 * "persisted" at once, messages are queued and delivered by deliver()/stabilize(), links can be cut.
 * Timing is explicit: nothing happens unless the test ticks a node.
 */
import { RaftCore } from '../../../src/raft/core/raft.js';
import type { Entry, HardState, Membership, Message, NodeId, RaftConfig, Ready, Snapshot } from '../../../src/raft/core/types.js';

export const testConfig = (id: NodeId, over: Partial<RaftConfig> = {}): RaftConfig => ({
  id,
  heartbeatTicks: 1,
  electionTicksMin: 10,
  electionTicksMax: 20,
  random: () => 0,
  maxEntriesPerAppend: 64,
  maxInflightAppends: 4,
  snapshotChunkBytes: 16,
  catchUpEntries: 5,
  ...over,
});

export interface Stored {
  hardState: HardState;
  entries: Entry[];
  snapshot: Snapshot | null;
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

export class TestNet {
  cores = new Map<NodeId, RaftCore>();
  stored = new Map<NodeId, Stored>();
  applied = new Map<NodeId, Entry[]>();
  readStates = new Map<NodeId, { requestId: string; index: number }[]>();
  failedReads = new Map<NodeId, string[]>();
  queue: Message[] = [];
  /** Every message sent, for assertions. */
  sent: Message[] = [];
  private cut = new Set<string>();
  /** Drop a message when this returns true (after the link check). */
  dropIf: ((m: Message) => boolean) | null = null;

  constructor(
    ids: NodeId[],
    private over: Partial<RaftConfig> = {},
    membership: Membership = { voters: ids, learners: [] },
  ) {
    for (const id of ids) this.add(id, membership);
  }

  add(id: NodeId, membership: Membership, stored?: Stored, over: Partial<RaftConfig> = {}): RaftCore {
    const st = stored ?? { hardState: { term: 0, vote: null, commit: 0 }, entries: [], snapshot: null };
    this.stored.set(id, st);
    const core = new RaftCore(testConfig(id, { ...this.over, ...over }), {
      hardState: { ...st.hardState },
      snapshot: st.snapshot,
      entries: [...st.entries],
      bootstrapMembership: membership,
    });
    this.cores.set(id, core);
    this.applied.set(id, []);
    this.readStates.set(id, []);
    this.failedReads.set(id, []);
    return core;
  }

  core(id: NodeId): RaftCore {
    return this.cores.get(id)!;
  }

  /** Cut (or restore) both directions between a and b; with one argument, isolate a from everyone. */
  isolate(a: NodeId): void {
    for (const b of this.cores.keys()) if (b !== a) this.cutLink(a, b);
  }

  cutLink(a: NodeId, b: NodeId, oneWay = false): void {
    this.cut.add(`${a}>${b}`);
    if (!oneWay) this.cut.add(`${b}>${a}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Persist, queue messages, apply and advance one Ready of node id. */
  process(id: NodeId): Ready | null {
    const core = this.core(id);
    if (!core.hasReady()) return null;
    const rd = core.ready();
    const st = this.stored.get(id)!;
    if (rd.snapshot) {
      st.snapshot = rd.snapshot;
      st.entries = [];
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      st.entries = st.entries.filter((e) => e.index < first).concat(rd.entries);
    }
    if (rd.hardState) st.hardState = rd.hardState;
    for (const m of rd.messages) {
      this.sent.push(m);
      this.queue.push(m);
    }
    const applied = this.applied.get(id)!;
    for (const e of rd.committed) applied.push(e);
    this.readStates.get(id)!.push(...rd.readStates);
    this.failedReads.get(id)!.push(...rd.failedReads);
    core.advance(rd);
    return rd;
  }

  /** Deliver every queued message once (messages they trigger are queued, not delivered). */
  deliver(): number {
    const batch = this.queue;
    this.queue = [];
    let n = 0;
    for (const m of batch) {
      if (this.cut.has(`${m.from}>${m.to}`)) continue;
      if (this.dropIf?.(m)) continue;
      const to = this.cores.get(m.to);
      if (!to) continue;
      to.step(m);
      n++;
    }
    return n;
  }

  /** Process Readies and deliver messages until nothing moves. */
  stabilize(maxRounds = 1000): void {
    for (let i = 0; i < maxRounds; i++) {
      let moved = false;
      for (const id of this.cores.keys()) if (this.process(id)) moved = true;
      if (this.deliver() > 0) moved = true;
      if (!moved) return;
    }
    throw new Error('network did not stabilize');
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.core(id).tick();
  }

  /** Tick every node n times, stabilizing after each round. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.cores.keys()) this.core(id).tick();
      this.stabilize();
    }
  }

  /** Make id time out and win an election (with the default random=0 the timeout is electionTicksMin). */
  elect(id: NodeId): void {
    const core = this.core(id);
    for (let i = 0; i < 100 && core.status().role !== 'leader'; i++) {
      core.tick();
      this.stabilize();
    }
    if (core.status().role !== 'leader') throw new Error(`${id} did not become leader`);
  }

  leaders(): NodeId[] {
    return [...this.cores].filter(([, c]) => c.status().role === 'leader').map(([id]) => id);
  }

  appliedData(id: NodeId): string[] {
    return this.applied
      .get(id)!
      .filter((e) => e.type === 'normal')
      .map((e) => dec(e.data));
  }
}
