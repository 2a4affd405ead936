/**
 * `log.dir` with `file_size` / `file_num` / `mode`: the agent's log in `<dir>/hactl.log`, rotated the
 * way Patroni's RotatingFileHandler does it (hactl.log → hactl.log.1 → … → hactl.log.<file_num>, the
 * oldest dropped) once a line would take it past file_size bytes. Writes are synchronous: a line is
 * on its way to disk before the agent acts on what it says, and the agent logs a few lines a second.
 */
import fs from 'node:fs';
import path from 'node:path';

export const DEFAULT_FILE_SIZE = 25_000_000;
export const DEFAULT_FILE_NUM = 4;

export interface LogFileOptions {
  dir: string;
  fileSize?: number;
  fileNum?: number;
  /** File permissions (Patroni's log.mode); default 0o600 (the log can name hosts and users). */
  mode?: number;
}

export class RotatingLogFile {
  readonly file: string;
  private fd: number;
  private size: number;

  constructor(private readonly options: LogFileOptions) {
    fs.mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    this.file = path.join(options.dir, 'hactl.log');
    // O_NOFOLLOW: a link planted at the log's name must not redirect root's writes.
    this.fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, this.mode);
    this.size = fs.fstatSync(this.fd).size;
  }

  private get mode(): number {
    return this.options.mode ?? 0o600;
  }

  write(line: string): void {
    const data = Buffer.from(line + '\n', 'utf8');
    const max = this.options.fileSize ?? DEFAULT_FILE_SIZE;
    if (this.size > 0 && this.size + data.length > max) this.rotate();
    fs.writeSync(this.fd, data);
    this.size += data.length;
  }

  private rotate(): void {
    fs.closeSync(this.fd);
    const keep = this.options.fileNum ?? DEFAULT_FILE_NUM;
    if (keep > 0) {
      for (let i = keep - 1; i >= 1; i--) {
        const from = `${this.file}.${i}`;
        if (fs.existsSync(from)) fs.renameSync(from, `${this.file}.${i + 1}`);
      }
      fs.renameSync(this.file, `${this.file}.1`);
    } else {
      fs.truncateSync(this.file, 0);
    }
    this.fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, this.mode);
    this.size = 0;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
