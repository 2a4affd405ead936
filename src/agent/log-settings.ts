/**
 * The agent's `log:` section applied to its line logger: layout (format, dateformat, type json with
 * static_fields) and destination (stderr, or `log.dir` with rotation). The fence process's lines, which
 * arrive already formatted on its stderr, are re-logged through the same logger so a JSON log stays JSON.
 */
import type { HactlConfig } from '../config/index.js';
import { RotatingLogFile } from '../log-file.js';
import { createFormatter } from '../log-format.js';
import type { LineLogger, LogLevel } from '../logger.js';

export class AgentLogOutput {
  private file: RotatingLogFile | null = null;
  private fileKey = '';

  constructor(
    private readonly logger: LineLogger,
    /** Where lines go without log.dir (stderr, or a test's collector). */
    private readonly fallback: (line: string) => void,
  ) {}

  /** Applies `log` (at start and on SIGHUP); a new dir or rotation setting reopens the file. */
  apply(log: HactlConfig['log']): void {
    this.logger.setOutput({
      format: createFormatter({ type: log.type, format: log.format, dateformat: log.dateformat, staticFields: log.static_fields }),
    });
    const key = JSON.stringify([log.dir, log.file_size, log.file_num, log.mode]);
    if (key === this.fileKey) return;
    this.fileKey = key;
    this.file?.close();
    this.file = log.dir ? new RotatingLogFile({ dir: log.dir, fileSize: log.file_size, fileNum: log.file_num, mode: log.mode }) : null;
    const file = this.file;
    this.logger.setOutput({ write: file ? (line) => file.write(line) : this.fallback });
  }

  /** A line the fence process wrote (`<date> <time> LEVEL: message`): logged again at its level. */
  forward(line: string): void {
    const m = /^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL): (.*)$/.exec(line);
    if (!m) {
      this.logger.info(line);
      return;
    }
    const level: Record<string, LogLevel> = { DEBUG: 'debug', INFO: 'info', WARNING: 'warn', ERROR: 'error', CRITICAL: 'critical' };
    this.logger[level[m[1]!]!](m[2]!);
  }

  close(): void {
    this.file?.close();
    this.file = null;
  }
}
