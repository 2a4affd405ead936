import type { Entry } from './types.js';

/**
 * The in-memory log after the last snapshot. Entries sit in an array with a moving start offset:
 * compaction and appends are amortized O(1), where shift()/splice() on a 100k-entry array would
 * cost O(n) per call and sink throughput.
 */
export class RaftLog {
  private buf: Entry[] = [];
  private start = 0;

  constructor(
    public snapshotIndex: number,
    public snapshotTerm: number,
    entries: readonly Entry[],
  ) {
    for (const e of entries) {
      // Restored logs are trusted only up to the first gap or term decrease (a stale tail left
      // behind an installed snapshot): what follows cannot be matched.
      if (e.index !== this.lastIndex + 1 || e.term < this.lastTerm) break;
      this.buf.push(e);
    }
  }

  get firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  get lastIndex(): number {
    return this.snapshotIndex + this.buf.length - this.start;
  }

  get lastTerm(): number {
    return this.term(this.lastIndex) as number;
  }

  /** Term at index, or undefined when the index is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex) return undefined;
    return this.buf[this.start + index - this.snapshotIndex - 1]!.term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapshotIndex || index > this.lastIndex) return undefined;
    return this.buf[this.start + index - this.snapshotIndex - 1];
  }

  /** Entries in [lo, hi), clamped to what the log holds. */
  slice(lo: number, hi: number): Entry[] {
    const from = Math.max(lo, this.firstIndex);
    const to = Math.min(hi, this.lastIndex + 1);
    if (from >= to) return [];
    const base = this.start - this.snapshotIndex - 1;
    return this.buf.slice(base + from, base + to);
  }

  append(e: Entry): void {
    if (e.index !== this.lastIndex + 1) {
      throw new Error(`raft log: append of index ${e.index} after last index ${this.lastIndex}`);
    }
    this.buf.push(e);
  }

  /** Drop every entry after index (a conflicting suffix from an old leader). */
  truncateAfter(index: number): void {
    if (index >= this.lastIndex) return;
    if (index < this.snapshotIndex) throw new Error(`raft log: truncate below snapshot ${this.snapshotIndex}`);
    this.buf.length = this.start + index - this.snapshotIndex;
  }

  /** Drop entries ≤ index, which a snapshot now covers. */
  compactTo(index: number, term: number): void {
    if (index <= this.snapshotIndex) return;
    if (index > this.lastIndex) {
      this.reset(index, term);
      return;
    }
    this.start += index - this.snapshotIndex;
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    // Reclaim the dead prefix once it dominates, so memory stays proportional to the live log.
    if (this.start > 1024 && this.start * 2 > this.buf.length) {
      this.buf = this.buf.slice(this.start);
      this.start = 0;
    }
  }

  /** Empty log that starts after a snapshot (InstallSnapshot of a state the log does not contain). */
  reset(index: number, term: number): void {
    this.buf = [];
    this.start = 0;
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /**
   * Smallest index in [lo, hi] whose term is ≥ term. Terms never decrease along a log, so a binary
   * search finds where a conflicting term begins (the rejection hint) without scanning it.
   */
  firstIndexWithTermAtLeast(term: number, lo: number, hi: number): number {
    let a = Math.max(lo, this.firstIndex);
    let b = Math.min(hi, this.lastIndex);
    while (a < b) {
      const mid = (a + b) >>> 1;
      if ((this.term(mid) as number) >= term) b = mid;
      else a = mid + 1;
    }
    return a;
  }
}
