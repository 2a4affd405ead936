/**
 * Deterministic clusters of real RaftNode shells: MemoryStorage, the in-memory transport twin
 * (MemoryNetwork), a manual clock and node:test's mocked timers, seeded randomness. `advance(ms)`
 * moves time in small steps and lets every message, RPC and storage promise settle in between, so
 * a run depends only on the seed — no sockets, no disk, no real waiting.
 */
import { mock } from 'node:test';
import { RaftNode, type RaftNodeOptions } from '../../../src/raft/index.js';
import { MemoryStorage } from '../../../src/raft/storage/index.js';
import { MemoryNetwork } from '../../../src/raft/transport/memory.js';
import { Rng } from '../../helpers/prng.js';

const STEP_MS = 5;
const SETTLE_ROUNDS = 12;

export interface ShellNode {
  addr: string;
  node: RaftNode;
  storage: MemoryStorage;
  log: string[];
}

function recordingLogger(lines: string[], echo: boolean) {
  const put = (level: string) => (m: string) => {
    lines.push(`${level} ${m}`);
    if (echo) console.log(`${level} ${m}`);
  };
  return { debug() {}, info: put('INFO'), warn: put('WARN'), error: put('ERROR') };
}

export class ShellCluster {
  readonly network = new MemoryNetwork();
  readonly nodes = new Map<string, ShellNode>();
  clock = 0;
  private readonly rng: Rng;

  constructor(seed: number) {
    this.rng = new Rng(seed);
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  }

  /** Start a member; `storage` lets a test restart one on what an earlier incarnation persisted. */
  async start(addr: string, partners: string[], extra: Partial<RaftNodeOptions> = {}): Promise<ShellNode> {
    const storage = (extra.storage as MemoryStorage | undefined) ?? new MemoryStorage();
    const log: string[] = [];
    const node = new RaftNode({
      selfAddr: addr,
      partnerAddrs: partners.filter((p) => p !== addr),
      storage,
      transport: this.network.transport(addr),
      dial: this.network.dialerFrom(addr),
      now: () => this.clock,
      random: () => this.rng.next(),
      logger: process.env.HACTL_SHELL_TRACE ? recordingLogger(log, true) : recordingLogger(log, false),
      tickMs: 10,
      heartbeatMs: 20,
      electionTimeoutMinMs: 100,
      electionTimeoutMaxMs: 200,
      requestTimeoutMs: 2_000,
      ...extra,
    });
    const starting = node.start();
    await this.settle();
    await starting;
    const n = { addr, node, storage, log };
    this.nodes.set(addr, n);
    return n;
  }

  /** Let every pending message, RPC and promise settle without moving time. */
  async settle(): Promise<void> {
    for (let i = 0; i < SETTLE_ROUNDS; i++) await new Promise<void>((r) => setImmediate(r));
  }

  async advance(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += STEP_MS) {
      this.clock += STEP_MS;
      mock.timers.tick(STEP_MS);
      await this.settle();
    }
  }

  /** Advance until `cond` holds; fails with `what` after `ms` of cluster time. */
  async until<T>(cond: () => T | null | undefined | false, what: string, ms = 10_000): Promise<T> {
    for (let t = 0; t <= ms; t += STEP_MS) {
      const v = cond();
      if (v) return v;
      await this.advance(STEP_MS);
    }
    throw new Error(`cluster time ${ms} ms passed waiting for ${what}`);
  }

  /** Runs `p` while advancing time, so that timers it waits on can fire. */
  async run<T>(p: Promise<T>, ms = 10_000): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown = null;
    p.then((v) => { done = true; value = v; }, (e: unknown) => { done = true; error = e; });
    await this.until(() => done, 'the operation to finish', ms);
    if (error !== null) throw error;
    return value as T;
  }

  leader(): string | null {
    const leaders = [...this.nodes.values()].filter((n) => n.node.running && n.node.isLeader);
    return leaders.length === 1 ? leaders[0]!.addr : null;
  }

  async stop(addr: string): Promise<void> {
    const n = this.nodes.get(addr)!;
    await this.run(n.node.stop());
    this.nodes.delete(addr);
  }

  async destroy(): Promise<void> {
    for (const addr of [...this.nodes.keys()]) await this.stop(addr).catch(() => undefined);
    mock.timers.reset();
  }
}
