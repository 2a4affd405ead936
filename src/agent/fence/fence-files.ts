/**
 * The fence's files (pid file, log, record of a kill) and the postmaster.pid it reads, handled so that a
 * root fence and agent can never be steered by a link or FIFO someone else planted (issue 14): nothing is
 * followed (O_NOFOLLOW), nothing blocks on open (O_NONBLOCK), new files are created O_EXCL and renamed
 * into place, and a file we act on must be a regular file that root or the agent's user wrote and only
 * they can change. The directory itself is checked once at agent start (settings.ts, `fence.dir`).
 *
 * Synchronous and built on node: builtins only, like fence-process.ts, which imports it.
 */
import fs from 'node:fs';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** Root and the agent's own user: who may have written a file the fence trusts. */
function trustedUids(): number[] {
  const me = process.getuid?.() ?? 0;
  return me === 0 ? [0] : [0, me];
}

/**
 * The text of a small regular file, without following a link; null when it is missing or not a regular
 * file. `trusted`: it must also belong to root or us and be writable by nobody else (otherwise a reason).
 */
export function readFileNoFollow(file: string, options: { trusted?: boolean } = {}): { text: string } | { text: null; refused?: string } {
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { text: null, refused: `${file} is a symbolic link` };
    return { text: null };
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { text: null, refused: `${file} is not a regular file` };
    if (options.trusted) {
      if (!trustedUids().includes(st.uid)) return { text: null, refused: `${file} belongs to uid ${st.uid}` };
      if ((st.mode & 0o022) !== 0) return { text: null, refused: `${file} is writable by its group or others` };
    }
    return { text: fs.readFileSync(fd, 'utf8') };
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `file` atomically: a fresh O_EXCL temp file beside it, fsynced, renamed over it. */
export function replaceFileNoFollow(file: string, content: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  let fd: number;
  try {
    fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Left by an earlier process with our pid (pids recycle); unlink removes a link, never its target.
    fs.unlinkSync(tmp);
    fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  }
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** Appends to a log file, creating it 0600; a link at its name is refused (throws ELOOP). */
export function appendNoFollow(file: string, line: string): void {
  const fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
  try {
    if (!fs.fstatSync(fd).isFile()) return;
    fs.writeSync(fd, line);
  } finally {
    fs.closeSync(fd);
  }
}
