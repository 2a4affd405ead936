/**
 * Rebuilds the log from journal records, in file order. Pure: FileStorage feeds it the records
 * of every segment it could read and gets back what a node restarts from.
 */
import type { Entry, HardState, Snapshot } from '../core/types.js';
import type { JournalRecord } from './journal.js';

export const INITIAL_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 };

export interface ReplayResult {
  /** The last HARD_STATE record's (commit is what counts; term and vote come from the voter file). */
  hardState: HardState;
  entries: Entry[];
  /** Highest term of any entry or snapshot seen: a floor for the term the member restarts with. */
  maxTerm: number;
  /** Repairs made (dropped conflicting entries, lowered commit), for the log. */
  notes: { level: 'warn' | 'error'; message: string }[];
  /** Set when the journal and the snapshot file cannot both be right: the caller refuses to start. */
  problem: string | null;
}

export class LogReplay {
  private entries: Entry[] = [];
  private hardState: HardState = INITIAL_HARD_STATE;
  private maxTerm = 0;
  /** Highest snapshot index the journal says was made durable. */
  private snapshotMark = 0;

  apply(rec: JournalRecord): void {
    switch (rec.kind) {
      case 'header':
      case 'batch':
        return;
      case 'hardState':
        this.hardState = rec.hardState;
        return;
      case 'entries':
        for (const e of rec.entries) if (e.term > this.maxTerm) this.maxTerm = e.term;
        this.appendBatch(rec.entries);
        return;
      case 'snapshot':
        this.snapshotMark = Math.max(this.snapshotMark, rec.index);
        this.maxTerm = Math.max(this.maxTerm, rec.term);
        this.entries = rec.keepFollowing ? this.entries.filter((e) => e.index > rec.index) : [];
        return;
    }
  }

  private appendBatch(batch: Entry[]): void {
    if (batch.length === 0) return;
    const first = batch[0]!.index;
    const log = this.entries;
    if (log.length > 0) {
      const base = log[0]!.index;
      const last = log[log.length - 1]!.index;
      if (first > last + 1 || first < base) {
        // The older entries were covered by a snapshot whose segments are gone; whatever is
        // still kept must connect to the snapshot, which finish() checks.
        this.entries = [];
      } else {
        log.length = first - base;
      }
    }
    for (const e of batch) this.entries.push(e);
  }

  /**
   * Applies the snapshot found on disk. Normally the journal already holds its SNAPSHOT record;
   * after a crash between the snapshot rename and that record, apply the same rule here (Raft
   * §7: keep the entries after the snapshot only if the log agrees with it at its index).
   */
  finish(snapshot: Snapshot | null): ReplayResult {
    const notes: ReplayResult['notes'] = [];
    const snapIndex = snapshot?.meta.index ?? 0;
    const maxTerm = Math.max(this.maxTerm, snapshot?.meta.term ?? 0);
    const broken = (problem: string): ReplayResult => ({ hardState: this.hardState, entries: [], maxTerm, notes, problem });
    if (this.snapshotMark > snapIndex) {
      // The journal recorded a durable snapshot the file no longer holds: the log it replaced is gone.
      return broken(`the journal records a snapshot at index ${this.snapshotMark}, but the snapshot file ` + (snapshot ? `is at index ${snapIndex}` : 'is missing'));
    }
    let entries = this.entries;
    if (snapshot) {
      const at = entries.find((e) => e.index === snapIndex);
      if (at && at.term !== snapshot.meta.term) {
        notes.push({
          level: 'warn',
          message: `dropped ${entries.length} log entries that conflict with the snapshot at index ${snapIndex}`,
        });
        entries = [];
      } else {
        entries = entries.filter((e) => e.index > snapIndex);
      }
    }
    if (entries.length > 0 && entries[0]!.index !== snapIndex + 1) {
      // Segments were lost: the log does not connect to the snapshot, entries in between are gone.
      return broken(`the log starts at index ${entries[0]!.index} but the snapshot ends at index ${snapIndex}: entries in between are missing`);
    }
    let hardState = this.hardState;
    const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : snapIndex;
    if (hardState.commit > lastIndex) {
      // A torn tail can cut entries that a surviving hard state counted as committed. Committed
      // entries live on a quorum, so forgetting that they were committed here is safe; pointing
      // commit past the log is not (pysyncobj PR #197: the node never applied anything again).
      notes.push({
        level: 'warn',
        message: `commit index ${hardState.commit} is past the last stored index ${lastIndex}; lowered to it`,
      });
      hardState = { ...hardState, commit: lastIndex };
    }
    return { hardState, entries, maxTerm, notes, problem: null };
  }
}
