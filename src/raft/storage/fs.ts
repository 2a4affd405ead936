/**
 * The few file-system calls durable storage needs, behind an interface so that tests can inject
 * faults (ENOSPC, EIO on fdatasync, a kill between two calls) without a special file system.
 * The default is node:fs with plain callbacks: one promise per call and no FileHandle objects,
 * which keeps the per-sync overhead small. Small writes are made synchronously: a buffered write of
 * a few KiB into the page cache takes microseconds, while a thread-pool round trip costs two thread
 * wake-ups, and on a busy host each waits its turn for a CPU (the group-commit batch's fdatasync
 * still goes through the pool: that one may take milliseconds).
 */
import * as fs from 'node:fs';

export interface StorageFs {
  open(path: string, flags: string): Promise<number>;
  /** Positional write; may write fewer bytes than asked (the caller loops). */
  write(fd: number, data: Buffer, offset: number, length: number, position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  close(fd: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  /** Creates the directory and its parents; no error when it exists. */
  mkdir(path: string): Promise<void>;
}

/** Writes up to this size skip the thread pool (see above); larger ones would block the loop too long. */
const SYNC_WRITE_MAX_BYTES = 256 * 1024;

function done<T>(resolve: (v: T) => void, reject: (e: Error) => void) {
  return (err: NodeJS.ErrnoException | null, value: T) => (err ? reject(err) : resolve(value));
}

export const nodeFs: StorageFs = {
  open: (path, flags) => new Promise((res, rej) => fs.open(path, flags, 0o600, done(res, rej))),
  write: (fd, data, offset, length, position) => {
    if (length <= SYNC_WRITE_MAX_BYTES) {
      try {
        return Promise.resolve(fs.writeSync(fd, data, offset, length, position));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    return new Promise((res, rej) => fs.write(fd, data, offset, length, position, (err, n) => (err ? rej(err) : res(n))));
  },
  fdatasync: (fd) => new Promise((res, rej) => fs.fdatasync(fd, (err) => (err ? rej(err) : res()))),
  fsync: (fd) => new Promise((res, rej) => fs.fsync(fd, (err) => (err ? rej(err) : res()))),
  ftruncate: (fd, length) => new Promise((res, rej) => fs.ftruncate(fd, length, (err) => (err ? rej(err) : res()))),
  close: (fd) => new Promise((res, rej) => fs.close(fd, (err) => (err ? rej(err) : res()))),
  rename: (from, to) => new Promise((res, rej) => fs.rename(from, to, (err) => (err ? rej(err) : res()))),
  unlink: (path) => new Promise((res, rej) => fs.unlink(path, (err) => (err ? rej(err) : res()))),
  readdir: (path) => new Promise((res, rej) => fs.readdir(path, done(res, rej))),
  readFile: (path) => new Promise((res, rej) => fs.readFile(path, done(res, rej))),
  mkdir: (path) => new Promise((res, rej) => fs.mkdir(path, { recursive: true }, (err) => (err ? rej(err) : res()))),
};

/** fsync a directory so that a create, rename or unlink inside it survives a power loss. */
export async function fsyncDir(fsApi: StorageFs, dir: string): Promise<void> {
  const fd = await fsApi.open(dir, 'r');
  try {
    await fsApi.fsync(fd);
  } finally {
    await fsApi.close(fd);
  }
}

/**
 * TEST ONLY (the hidden `--test-eio-file` flag of `hactl raft node`; no config key, so an agent never
 * runs it): the storage fs of a member under a fault-injecting run (test/raft/process/jepsen.ts), so
 * that EIO reaches a real process at run time, which the in-memory fault layer
 * (test/raft/storage/sim-fs.ts) cannot do. While `controlFile` exists, its first word decides:
 *   `all`   every write, ftruncate, fdatasync and fsync fails with EIO (a dead disk);
 *   `sync`  writes land in the page cache, every fdatasync and fsync fails with EIO (failing writeback).
 * A failed sync also drops what was written on that descriptor since its last good sync: the bytes
 * are put back as they were (fsyncgate: Linux marks the dirty pages clean after reporting the error,
 * so the data never reaches the disk and a later sync does not write it — modelled here as the pages
 * being evicted at once, the worst case). Simplifications, said so that nobody relies on them: an
 * ftruncate stops the undo of writes before it, a close forgets the descriptor's unsynced writes, and
 * directory entries are never lost. Reads never fail: the run checks what a restart loads.
 */
export function eioSwitchFs(base: StorageFs, controlFile: string): StorageFs {
  /** Per open descriptor: what each unsynced write replaced, oldest first. */
  const unsynced = new Map<number, { pos: number; old: Buffer; sizeBefore: number }[]>();
  const mode = (): 'all' | 'sync' | null => {
    let text: string;
    try {
      text = fs.readFileSync(controlFile, 'utf8');
    } catch (err) {
      // No control file: no fault. Anything else is a broken test setup, which must be loud.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const word = text.trim().split(/\s+/)[0] ?? '';
    if (word === 'all' || word === 'sync') return word;
    throw new Error(`${controlFile}: expected "all" or "sync", found "${word}"`);
  };
  const eio = (syscall: string, fd: number): NodeJS.ErrnoException =>
    Object.assign(new Error(`EIO: i/o error, ${syscall} (fd ${fd}; injected by --test-eio-file ${controlFile})`), { code: 'EIO', errno: -5, syscall });
  const dropUnsynced = (fd: number): void => {
    const undo = unsynced.get(fd) ?? [];
    for (const u of undo.reverse()) {
      if (u.old.length > 0) fs.writeSync(fd, u.old, 0, u.old.length, u.pos);
      if (fs.fstatSync(fd).size > u.sizeBefore) fs.ftruncateSync(fd, u.sizeBefore);
    }
    unsynced.delete(fd);
  };
  /** Runs `fn`, turning a synchronous throw (a bad control file, a failed undo) into a rejection. */
  const guarded = <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return fn();
    } catch (err) {
      return Promise.reject(err as Error);
    }
  };
  const failSync = (syscall: string, fd: number, call: () => Promise<void>): Promise<void> =>
    guarded(() => {
      if (mode() === null) return call().then(() => void unsynced.delete(fd));
      dropUnsynced(fd);
      return Promise.reject(eio(syscall, fd));
    });
  return {
    ...base,
    // Opened readable too, so that a failed sync can read and put back what a write replaced.
    open: (path, flags) => base.open(path, flags === 'w' ? 'w+' : flags),
    write: (fd, data, offset, length, position) =>
      guarded(() => {
        if (mode() === 'all') return Promise.reject(eio('write', fd));
        const sizeBefore = fs.fstatSync(fd).size;
        const old = Buffer.alloc(Math.max(0, Math.min(length, sizeBefore - position)));
        if (old.length > 0) fs.readSync(fd, old, 0, old.length, position);
        const list = unsynced.get(fd) ?? [];
        list.push({ pos: position, old, sizeBefore });
        unsynced.set(fd, list);
        return base.write(fd, data, offset, length, position);
      }),
    ftruncate: (fd, length) =>
      guarded(() => {
        if (mode() === 'all') return Promise.reject(eio('ftruncate', fd));
        unsynced.delete(fd);
        return base.ftruncate(fd, length);
      }),
    fdatasync: (fd) => failSync('fdatasync', fd, () => base.fdatasync(fd)),
    fsync: (fd) => failSync('fsync', fd, () => base.fsync(fd)),
    close: (fd) => {
      unsynced.delete(fd);
      return base.close(fd);
    },
  };
}
