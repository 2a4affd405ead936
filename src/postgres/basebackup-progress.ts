// Reading pg_basebackup's `--progress --verbose` stderr. Progress lines are `23000/45000 kB (51%), 0/1 tablespace
// (path)` ended by \r on a terminal and \n otherwise (we pipe stderr, so \n; both are handled). Everything else
// is a `pg_basebackup: ...` message that we keep as a tail for errors.

export type BasebackupPhase = 'checkpoint' | 'copying' | 'finishing-wal' | 'syncing' | 'done';

export interface BasebackupProgress {
  phase: BasebackupPhase;
  /** Bytes copied so far (pg_basebackup counts in kB). */
  doneBytes: number;
  /** The server's size estimate; pg_basebackup raises it when the copy outgrows it. */
  totalBytes: number;
}

const PROGRESS_LINE = /^\s*(\d+)\/(\d+) kB \(\d+%\)/;

const PHASES: Array<[RegExp, BasebackupPhase]> = [
  [/initiating base backup|waiting for checkpoint/, 'checkpoint'],
  [/write-ahead log start point|starting background WAL receiver|created temporary replication slot/, 'copying'],
  [/write-ahead log end point|waiting for background process/, 'finishing-wal'],
  [/syncing data to disk|renaming backup_manifest/, 'syncing'],
  [/base backup completed/, 'done'],
];

/** Feed stderr chunks in; get a callback per progress change; keep the non-progress lines for error messages. */
export class BasebackupProgressParser {
  private pending = '';
  private readonly messages: string[] = [];
  private state: BasebackupProgress = { phase: 'checkpoint', doneBytes: 0, totalBytes: 0 };

  constructor(private readonly onProgress: (progress: BasebackupProgress) => void = () => undefined) {}

  push(chunk: string): void {
    const parts = (this.pending + chunk).split(/\r\n|\r|\n/);
    this.pending = parts.pop() ?? '';
    for (const line of parts) this.line(line);
  }

  /** Call at process exit to flush a last unterminated line. */
  end(): void {
    if (this.pending !== '') this.line(this.pending);
    this.pending = '';
  }

  get progress(): BasebackupProgress {
    return { ...this.state };
  }

  /** The messages (not progress lines) pg_basebackup printed, for the error of a failed run. */
  get messageText(): string {
    return this.messages.join('\n');
  }

  private line(raw: string): void {
    const line = raw.trimEnd();
    if (line.trim() === '') return;
    const match = PROGRESS_LINE.exec(line);
    if (match) {
      const doneBytes = Number(match[1]) * 1024;
      const totalBytes = Math.max(Number(match[2]) * 1024, doneBytes);
      if (doneBytes === this.state.doneBytes && totalBytes === this.state.totalBytes) return;
      this.emit({ phase: 'copying', doneBytes: Math.max(doneBytes, this.state.doneBytes), totalBytes });
      return;
    }
    this.messages.push(line);
    if (this.messages.length > 200) this.messages.shift();
    for (const [pattern, phase] of PHASES) {
      if (pattern.test(line)) {
        if (phase !== this.state.phase) this.emit({ ...this.state, phase });
        break;
      }
    }
  }

  private emit(next: BasebackupProgress): void {
    this.state = next;
    this.onProgress({ ...next });
  }
}
