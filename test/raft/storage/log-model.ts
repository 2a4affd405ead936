/**
 * The log a storage workload (workload.ts) describes after each of its ops, in a form that does
 * not depend on where the snapshot boundary sits: index i → a fingerprint of the entry there, or
 * of the leader snapshot covering it. Compaction only moves the boundary, so a state loaded with
 * an older or newer compaction snapshot compares equal to the same log. Each state is kept as
 * (length, rolling hash) so that thousands of them cost a few numbers each.
 */
import type { Entry, Snapshot } from '../../../src/raft/core/types.js';
import type { WorkOp } from './workload.js';

function mix(h: number, s: string): number {
  let x = h ^ 0x9e3779b9;
  for (let i = 0; i < s.length; i++) {
    x = Math.imul(x ^ s.charCodeAt(i), 0x01000193);
    x ^= x >>> 13;
  }
  return x >>> 0;
}

function entryFp(e: Entry): string {
  return `${e.index}/${e.term}/${Buffer.from(e.data).toString()}`;
}

export function snapshotId(s: Snapshot): string {
  return `${Buffer.from(s.data).toString()}@${s.meta.index}/${s.meta.term}`;
}

export interface LogSignature {
  length: number;
  hash: number;
}

export class LogModel {
  /** Signature of the log before any op (index 0), then after op j (index j + 1). */
  private readonly states: LogSignature[] = [{ length: 0, hash: 0 }];
  /** Fingerprints of indexes 1..k that each snapshot the workload saves covers. */
  private readonly covers = new Map<string, string[]>();

  constructor(ops: readonly WorkOp[]) {
    let fps: string[] = [];
    let hashes: number[] = [0];
    const setLength = (n: number) => {
      fps.length = Math.min(fps.length, n);
      hashes.length = fps.length + 1;
    };
    const push = (fp: string) => {
      fps.push(fp);
      hashes.push(mix(hashes[hashes.length - 1]!, fp));
    };
    for (const op of ops) {
      if (op.kind === 'append') {
        const first = op.entries[0]!.index;
        if (first - 1 > fps.length) throw new Error(`workload appends at ${first} after a log of ${fps.length}`);
        setLength(first - 1);
        for (const e of op.entries) push(entryFp(e));
      } else if (op.kind === 'snapshot') {
        const k = op.snapshot.meta.index;
        const id = snapshotId(op.snapshot);
        if (k <= fps.length && Buffer.from(op.snapshot.data).toString().startsWith('s')) {
          this.covers.set(id, fps.slice(0, k));
        } else {
          // Installed from a leader: replaces the whole log with an opaque state.
          fps = [];
          hashes = [0];
          for (let i = 1; i <= k; i++) push(`I${id}#${i}`);
          this.covers.set(id, fps.slice());
        }
      }
      this.states.push({ length: fps.length, hash: hashes[hashes.length - 1]! });
    }
  }

  /** Signature of a loaded state, or an explanation when its snapshot is not one the workload saved. */
  signatureOf(snapshot: Snapshot | null, entries: readonly Entry[]): LogSignature | string {
    let h = 0;
    let length = 0;
    if (snapshot) {
      const cover = this.covers.get(snapshotId(snapshot));
      if (!cover) return `snapshot ${snapshotId(snapshot)} was never saved by the workload`;
      for (const fp of cover) h = mix(h, fp);
      length = cover.length;
    }
    for (const e of entries) {
      if (e.index !== length + 1) return `entry ${e.index} does not follow index ${length}`;
      h = mix(h, entryFp(e));
      length++;
    }
    return { length, hash: h };
  }

  /** The first op j ≥ from (-1: before any op) after which the log equals `sig`; null when none. */
  firstMatch(sig: LogSignature, from: number): number | null {
    for (let k = from + 1; k < this.states.length; k++) {
      const a = this.states[k]!;
      if (a.length === sig.length && a.hash === sig.hash) return k - 1;
    }
    return null;
  }
}
