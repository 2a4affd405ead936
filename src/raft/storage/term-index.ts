/**
 * What FileStorage remembers about its log without keeping entries in memory: the index range
 * and the term of every index as runs (one run per term change), enough to validate appends and
 * to tell whether a snapshot agrees with the log.
 */
import type { Entry } from '../core/types.js';

interface TermRun {
  firstIndex: number;
  term: number;
}

export class TermIndex {
  private runs: TermRun[] = [];
  /** Index and term just before the first stored entry (the snapshot's, or 0). */
  private base = 0;
  private baseTerm = 0;
  private last = 0;

  get lastIndex(): number {
    return this.last;
  }

  get firstIndex(): number {
    return this.base + 1;
  }

  /** Resets to a snapshot at `baseIndex` followed by `entries`. */
  reset(baseIndex: number, baseTerm: number, entries: readonly Entry[] = []): void {
    this.runs = [];
    this.base = baseIndex;
    this.baseTerm = baseTerm;
    this.last = baseIndex;
    if (entries.length > 0) this.append(entries);
  }

  /** Throws when the batch would leave a gap or reach below the snapshot: a caller bug. */
  append(entries: readonly Entry[]): void {
    const first = entries[0]!.index;
    if (first > this.last + 1) throw new Error(`append at index ${first} leaves a gap after last index ${this.last}`);
    if (first <= this.base) throw new Error(`append at index ${first} reaches into the snapshot (index ${this.base})`);
    for (let i = 1; i < entries.length; i++) {
      if (entries[i]!.index !== first + i) {
        throw new Error(`append batch is not contiguous at index ${entries[i]!.index}`);
      }
    }
    this.truncateFrom(first);
    for (const e of entries) {
      const tail = this.runs[this.runs.length - 1];
      if (!tail || tail.term !== e.term) this.runs.push({ firstIndex: e.index, term: e.term });
    }
    this.last = entries[entries.length - 1]!.index;
  }

  private truncateFrom(index: number): void {
    while (this.runs.length > 0 && this.runs[this.runs.length - 1]!.firstIndex >= index) this.runs.pop();
    this.last = Math.min(this.last, index - 1);
  }

  /** Term of a stored entry (or of the snapshot's last one), null outside that range. */
  termAt(index: number): number | null {
    if (index === this.base && index > 0) return this.baseTerm;
    if (index < this.base || index > this.last) return null;
    for (let i = this.runs.length - 1; i >= 0; i--) {
      if (this.runs[i]!.firstIndex <= index) return this.runs[i]!.term;
    }
    return null;
  }

  /** Drops entries ≤ index, keeping the rest (compaction of a log that agrees with the snapshot). */
  compactTo(index: number): void {
    this.baseTerm = this.termAt(index) ?? this.baseTerm;
    let i = 0;
    while (i + 1 < this.runs.length && this.runs[i + 1]!.firstIndex <= index + 1) i++;
    this.runs = this.runs.slice(i);
    const head = this.runs[0];
    if (head && head.firstIndex <= index) this.runs[0] = { ...head, firstIndex: index + 1 };
    this.base = index;
    if (this.last < index) {
      this.last = index;
      this.runs = [];
    }
  }
}
