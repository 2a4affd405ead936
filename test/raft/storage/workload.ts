/**
 * A deterministic stream of storage calls (appends, suffix replacements, hard states, syncs,
 * compaction and leader-installed snapshots) shared by the crash child and the test that checks
 * what survived it. Same seed, same calls.
 */
import type { Entry, HardState, Snapshot } from '../../../src/raft/core/types.js';
import { MemoryStorage } from '../../../src/raft/storage/index.js';
import { mulberry32 } from '../../helpers/prng.js';

export type WorkOp =
  | { kind: 'append'; entries: Entry[] }
  | { kind: 'hardState'; hardState: HardState }
  | { kind: 'sync' }
  | { kind: 'snapshot'; snapshot: Snapshot };


export function workload(seed: number, rounds: number, padMax = 200): WorkOp[] {
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const ops: WorkOp[] = [];
  const terms: number[] = [0]; // terms[i] = term of entry i; index 0 is the snapshot base
  let base = 0; // snapshot index
  let term = 1;
  // One vote per term, set before any entry of that term is stored (as a node does).
  let vote: string | null = 'a:1';
  let commit = 0;
  const last = () => base + terms.length - 1;
  const make = (index: number): Entry => {
    const pad = 'x'.repeat(16 + int(padMax));
    return { index, term, type: 'normal', data: Buffer.from(`${index}:${term}:${pad}`) };
  };
  for (let round = 0; round < rounds; round++) {
    const r = rnd();
    if (r < 0.12 && last() > commit + 1) {
      // A new leader overwrote our uncommitted tail.
      term++;
      vote = rnd() < 0.5 ? 'b:1' : null;
      ops.push({ kind: 'hardState', hardState: { term, vote, commit } });
      const start = commit + 1 + int(last() - commit);
      terms.length = start - base;
      const batch: Entry[] = [];
      for (let i = 0; i < 1 + int(4); i++) {
        batch.push(make(start + i));
        terms.push(term);
      }
      ops.push({ kind: 'append', entries: batch });
    } else if (r < 0.17 && commit > base) {
      // Compaction: snapshot of what was applied.
      const index = commit;
      const snap = { meta: { index, term: terms[index - base]!, membership: { voters: ['a:1'], learners: [] } }, data: Buffer.from(`s${index}`) };
      terms.splice(0, index - base);
      base = index;
      ops.push({ kind: 'snapshot', snapshot: snap });
      continue;
    } else if (r < 0.2) {
      // The leader sent a snapshot ahead of our log, from a newer term.
      term++;
      vote = null;
      const index = last() + 1 + int(5);
      const snap = { meta: { index, term, membership: { voters: ['a:1'], learners: [] } }, data: Buffer.from(`i${index}`) };
      base = index;
      terms.length = 0;
      terms.push(term);
      commit = index;
      ops.push({ kind: 'hardState', hardState: { term, vote, commit } });
      ops.push({ kind: 'snapshot', snapshot: snap });
      ops.push({ kind: 'sync' });
      continue;
    } else {
      const batch: Entry[] = [];
      for (let i = 0; i < 1 + int(8); i++) {
        batch.push(make(last() + 1));
        terms.push(term);
      }
      ops.push({ kind: 'append', entries: batch });
    }
    if (rnd() < 0.7) {
      commit = Math.max(commit, last() - int(4));
      ops.push({ kind: 'hardState', hardState: { term, vote, commit } });
    }
    if (rnd() < 0.8) ops.push({ kind: 'sync' });
  }
  ops.push({ kind: 'sync' });
  return ops;
}

/** Canonical text of a loaded state, so states compare with ===. */
export function describeState(s: { hardState: HardState; snapshot: Snapshot | null; entries: Entry[] }): string {
  const snap = s.snapshot ? `${s.snapshot.meta.index}/${s.snapshot.meta.term}/${Buffer.from(s.snapshot.data).toString()}` : '-';
  const log = s.entries.map((e) => `${e.index}/${e.term}/${Buffer.from(e.data).toString()}`).join(',');
  return `hs=${JSON.stringify(s.hardState)} snap=${snap} log=${log}`;
}

/** The state after each op i (ops 0..i made durable), computed with MemoryStorage as the model. */
export async function statesAfterEachOp(ops: WorkOp[]): Promise<string[]> {
  const model = new MemoryStorage();
  const out: string[] = [];
  for (const op of ops) {
    if (op.kind === 'append') model.append(op.entries);
    else if (op.kind === 'hardState') model.setHardState(op.hardState);
    else if (op.kind === 'snapshot') await model.saveSnapshot(op.snapshot);
    await model.sync();
    out.push(describeState(await model.load()));
  }
  return out;
}
