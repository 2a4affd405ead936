import type { Entry, HardState, NodeId } from '../../../src/raft/core/types.js';
import { type DiskState, termAt } from './disk.js';

export class SafetyViolation extends Error {
  override name = 'SafetyViolation';
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Raft's safety properties (Figure 3 of the paper), checked incrementally so each check is O(1)
 * per entry or per event, cheap enough to run after every simulated step.
 */
export class SafetyChecker {
  /** Election safety: at most one leader per term. */
  private leaderOfTerm = new Map<number, NodeId>();
  /** Log matching, inductively: an (index, term) pair always has the same command and the same predecessor term. */
  private entryByKey = new Map<string, { prevTerm: number; data: Uint8Array; type: string }>();
  /** State machine safety: what was applied at each index, anywhere. */
  readonly applied: ({ term: number; data: Uint8Array; committedBy: number } | undefined)[] = [];
  /** Per node: highest term it sent a message in, and the vote it made durable per term. */
  private sentTerm = new Map<NodeId, number>();
  private durableVote = new Map<string, NodeId>();

  leader(id: NodeId, term: number): void {
    const prev = this.leaderOfTerm.get(term);
    if (prev !== undefined && prev !== id) throw new SafetyViolation(`election safety: ${prev} and ${id} both leader in term ${term}`);
    this.leaderOfTerm.set(term, id);
  }

  /** Entries just written to id's log (its written disk state, which the check reads for predecessors). */
  written(id: NodeId, disk: DiskState, entries: Entry[]): void {
    if (entries.length === 0) return;
    let prevTerm = termAt(disk, entries[0]!.index - 1);
    for (const e of entries) {
      if (prevTerm === undefined) throw new SafetyViolation(`${id}: log gap before ${e.index}`);
      if (prevTerm > e.term) throw new SafetyViolation(`${id}: term decreases at ${e.index} (${prevTerm} > ${e.term})`);
      const key = `${e.index}:${e.term}`;
      const seen = this.entryByKey.get(key);
      if (!seen) {
        this.entryByKey.set(key, { prevTerm, data: e.data, type: e.type });
      } else if (seen.prevTerm !== prevTerm || seen.type !== e.type || !sameBytes(seen.data, e.data)) {
        throw new SafetyViolation(`log matching: ${id} holds a different entry ${key} (or predecessor) than seen before`);
      }
      prevTerm = e.term;
    }
  }

  /** `nodeTerm`: the applying node's term, an upper bound of the term in which the entry committed. */
  apply(id: NodeId, e: Entry, nodeTerm: number): void {
    const had = this.applied[e.index];
    if (had === undefined) {
      this.applied[e.index] = { term: e.term, data: e.data, committedBy: nodeTerm };
    } else if (had.term !== e.term || !sameBytes(had.data, e.data)) {
      throw new SafetyViolation(`state machine safety: ${id} applied term ${e.term} at ${e.index}, another node applied term ${had.term}`);
    }
  }

  /** Leader completeness: a new leader's log holds every entry committed in an earlier term. */
  leaderLog(id: NodeId, term: number, disk: DiskState): void {
    const snapIndex = disk.snapshot?.meta.index ?? 0;
    for (let i = snapIndex; i < this.applied.length; i++) {
      const a = this.applied[i];
      if (a === undefined || a.committedBy >= term) continue;
      const t = termAt(disk, i);
      if (t !== a.term) throw new SafetyViolation(`leader completeness: leader ${id} has term ${t} at ${i}, applied term ${a.term}`);
    }
  }

  sent(id: NodeId, term: number): void {
    if (term > (this.sentTerm.get(id) ?? 0)) this.sentTerm.set(id, term);
  }

  durable(id: NodeId, hs: HardState): void {
    if (hs.vote === null) return;
    const key = `${id}@${hs.term}`;
    const had = this.durableVote.get(key);
    if (had !== undefined && had !== hs.vote) throw new SafetyViolation(`${id} voted for ${had} and ${hs.vote} in term ${hs.term}`);
    this.durableVote.set(key, hs.vote);
  }

  /** After a restart: the durable term is at least every term the node spoke in before the crash. */
  restarted(id: NodeId, disk: DiskState): void {
    const sent = this.sentTerm.get(id) ?? 0;
    if (disk.hardState.term < sent) throw new SafetyViolation(`${id} restarted at term ${disk.hardState.term} after sending in term ${sent}`);
    const last = (disk.snapshot?.meta.index ?? 0) + disk.entries.length;
    if (disk.hardState.commit > last) {
      throw new SafetyViolation(`${id} restarted with commit ${disk.hardState.commit} past its durable log (${last})`);
    }
  }
}
