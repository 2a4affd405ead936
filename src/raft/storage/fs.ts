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
