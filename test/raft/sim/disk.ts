import type { Entry, HardState, Snapshot } from '../../../src/raft/core/types.js';
import type { Rng } from './prng.js';

export interface DiskState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Contiguous, starting right after the snapshot index. */
  entries: Entry[];
}

type Op = { kind: 'entries'; entries: Entry[] } | { kind: 'hardState'; hardState: HardState } | { kind: 'snapshot'; snapshot: Snapshot };

/**
 * A model of durable storage: writes land in `written` at once (what a restarted process would
 * read if the OS flushed everything) and in `durable` only at sync(). A crash keeps a random prefix
 * of the unsynced writes, and may tear the last kept append (its tail entries vanish), as a
 * journal with checksummed records behaves after power loss.
 */
export class SimDisk {
  durable: DiskState = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
  written: DiskState = clone(this.durable);
  private pending: Op[] = [];

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  appendEntries(entries: Entry[]): void {
    if (entries.length === 0) return;
    this.push({ kind: 'entries', entries });
  }

  setHardState(hardState: HardState): void {
    this.push({ kind: 'hardState', hardState });
  }

  /** An InstallSnapshot from the leader: the snapshot replaces the whole log. */
  installSnapshot(snapshot: Snapshot): void {
    this.push({ kind: 'snapshot', snapshot });
  }

  sync(): void {
    for (const op of this.pending) applyOp(this.durable, op);
    this.pending = [];
  }

  /** Compaction is an atomic, durable snapshot save (write temp, fsync, rename) that drops covered entries. */
  saveSnapshot(snapshot: Snapshot): void {
    for (const st of [this.durable, this.written]) {
      st.snapshot = snapshot;
      st.entries = st.entries.filter((e) => e.index > snapshot.meta.index);
    }
  }

  crash(rng: Rng, tornRate: number): { keptOps: number; lostOps: number; torn: boolean } {
    const keep = rng.int(0, this.pending.length + 1);
    let torn = false;
    for (let i = 0; i < keep; i++) {
      let op = this.pending[i]!;
      if (i === keep - 1 && op.kind === 'entries' && rng.chance(tornRate)) {
        op = { kind: 'entries', entries: op.entries.slice(0, op.entries.length - 1) };
        torn = true;
      }
      applyOp(this.durable, op);
    }
    const lostOps = this.pending.length - keep;
    this.pending = [];
    this.written = clone(this.durable);
    return { keptOps: keep, lostOps, torn };
  }

  private push(op: Op): void {
    this.pending.push(op);
    applyOp(this.written, op);
  }
}

function applyOp(st: DiskState, op: Op): void {
  switch (op.kind) {
    case 'hardState':
      st.hardState = op.hardState;
      return;
    case 'snapshot':
      st.snapshot = op.snapshot;
      st.entries = [];
      return;
    case 'entries': {
      if (op.entries.length === 0) return;
      const base = st.snapshot?.meta.index ?? 0;
      const first = op.entries[0]!.index;
      const keep = first - base - 1;
      if (keep < 0) throw new Error(`disk: append at ${first} below snapshot ${base}`);
      if (keep > st.entries.length) throw new Error(`disk: gap before ${first} (last ${base + st.entries.length})`);
      st.entries.length = keep;
      for (const e of op.entries) st.entries.push(e);
      return;
    }
  }
}

function clone(st: DiskState): DiskState {
  return { hardState: { ...st.hardState }, snapshot: st.snapshot, entries: [...st.entries] };
}

export function lastIndexOf(st: DiskState): number {
  return (st.snapshot?.meta.index ?? 0) + st.entries.length;
}

export function termAt(st: DiskState, index: number): number | undefined {
  const base = st.snapshot?.meta.index ?? 0;
  if (index === base) return st.snapshot?.meta.term ?? 0;
  return st.entries[index - base - 1]?.term;
}
