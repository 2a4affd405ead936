/** Public types of the simulator (cluster.ts re-exports them). */
import type { Entry, NodeId, RaftConfig } from '../../../src/raft/core/types.js';

export interface SimContext {
  id: NodeId;
  /** The node's local monotonic clock in ms (virtual time scaled by its clock rate). */
  now(): number;
}

export interface SimStateMachine {
  /** Apply a committed 'normal' entry; the return value becomes the write's result. */
  apply(entry: Entry): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array | null): void;
}

export type OpStatus = 'pending' | 'ok' | 'failed' | 'unknown';

export interface ClientOp {
  id: number;
  kind: 'write' | 'read';
  node: NodeId | null;
  data?: Uint8Array;
  invokedAt: number;
  completedAt?: number;
  status: OpStatus;
  result?: unknown;
  error?: string;
  /** Log position of a write once proposed. */
  index?: number;
  term?: number;
}

export interface NetworkOptions {
  lossRate: number;
  duplicateRate: number;
  delayMs: [number, number];
}

export interface SimOptions {
  seed: number;
  /** Number of initial voters (named n1..nN) or their ids. */
  nodes: number | NodeId[];
  tickMs?: number;
  config?: Partial<Omit<RaftConfig, 'id' | 'random'>>;
  stateMachine?: (ctx: SimContext) => SimStateMachine;
  /** Snapshot + compact once this many entries were applied since the last snapshot (0 = never). */
  compactEvery?: number;
  fsyncMs?: [number, number];
  network?: Partial<NetworkOptions>;
  /** Each node's clock rate is drawn from [1 - drift, 1 + drift]. */
  clockDrift?: number;
  /** Probability that a crash tears the last surviving unsynced append. */
  tornRate?: number;
}

/** Default state machine: an ordered log of applied commands (result = its position). */
export class LogStateMachine implements SimStateMachine {
  entries: string[] = [];
  apply(entry: Entry): unknown {
    this.entries.push(new TextDecoder().decode(entry.data));
    return this.entries.length;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.entries));
  }
  restore(data: Uint8Array | null): void {
    this.entries = data ? (JSON.parse(new TextDecoder().decode(data)) as string[]) : [];
  }
}
