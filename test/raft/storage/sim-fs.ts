/**
 * An in-memory file system with a page cache and a disk, for deterministic storage fault tests.
 * It implements the StorageFs the journal, the voter file and the snapshot file use, and models
 * what survives a power loss:
 *
 * - File data written but not fdatasynced may be lost at a crash: the unsynced writes of a file
 *   survive as an ordered prefix, and the first lost one may be torn — a random subset of its
 *   512-byte sectors lands, the others keep what the disk held before (zeros past the old end).
 * - Directory changes (create, rename, unlink) are durable only once the directory is fsynced;
 *   at a crash a random prefix of the unsynced ones survives (lost directory entries).
 * - fsyncgate: an fdatasync that fails with EIO leaves the dirty data marked clean, so a later
 *   successful fdatasync does not write it: only rewriting the data makes it durable again.
 * - Any call can fail with ENOSPC or EIO (`failRate`, or `failNext`); a write that fails with
 *   ENOSPC may have written a prefix first.
 * - `flipBit` damages durable data at a random offset (media corruption).
 *
 * Everything is driven by the injected PRNG, so a seed reproduces a run. Paths are flat: one
 * directory (the data dir) holding files.
 */
import type { StorageFs } from '../../../src/raft/storage/index.js';

export interface SimRng {
  next(): number;
  int(lo: number, hi: number): number;
  chance(p: number): boolean;
}

type Errno = 'ENOSPC' | 'EIO';

interface Inode {
  id: number;
  /** What reads see (the page cache). */
  cur: Buffer;
  /** What the disk holds. */
  disk: Buffer;
  /** Writes and truncations since the last successful fdatasync that may still reach the disk. */
  pending: ({ kind: 'write'; pos: number; data: Buffer } | { kind: 'truncate'; size: number })[];
}

type DirOp = { kind: 'link'; name: string; inode: number } | { kind: 'unlink'; name: string };

const SECTOR = 512;

/** Thrown to a crashed incarnation's calls. */
export class ProcessGone extends Error {
  constructor() {
    super('crash: this process is gone');
    this.name = 'ProcessGone';
  }
}

function errnoError(code: Errno, syscall: string, path: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'i/o error';
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), { code, syscall, path });
}

function enoent(syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${syscall} '${path}'`), { code: 'ENOENT', syscall, path });
}

function writeAt(buf: Buffer, pos: number, data: Buffer): Buffer {
  const size = Math.max(buf.length, pos + data.length);
  const out = size > buf.length ? Buffer.concat([buf, Buffer.alloc(size - buf.length)]) : Buffer.from(buf);
  data.copy(out, pos);
  return out;
}

function truncateTo(buf: Buffer, size: number): Buffer {
  return size <= buf.length ? Buffer.from(buf.subarray(0, size)) : Buffer.concat([buf, Buffer.alloc(size - buf.length)]);
}

export class SimFs implements StorageFs {
  private readonly inodes = new Map<number, Inode>();
  /** Names as the page cache sees them, and as the disk holds them. */
  private names = new Map<string, number>();
  private diskNames = new Map<string, number>();
  private dirPending: DirOp[] = [];
  private readonly fds = new Map<number, { inode: number; path: string }>();
  private nextFd = 3;
  private nextInode = 1;
  /** The one directory this file system holds (set by mkdir). */
  private dir = '';
  /** Probability that any call fails with ENOSPC or EIO. */
  failRate = 0;
  private failQueue: { op: keyof StorageFs; code: Errno }[] = [];
  calls = 0;
  /** Bumped by crash(): handles of an earlier incarnation fail every call from then on. */
  private epoch = 0;
  /** Called before every operation; may throw to simulate a crash at that point. */
  onCall: ((op: keyof StorageFs, path: string) => void) | null = null;

  constructor(private readonly rng: SimRng) {}

  /**
   * The StorageFs one process incarnation uses: after crash() it fails every call, so work the
   * dead process still had queued (a snapshot being written, segments being deleted) never
   * touches the disk the next incarnation sees.
   */
  handle(): StorageFs {
    const epoch = this.epoch;
    const out = {} as Record<string, unknown>;
    for (const name of ['open', 'write', 'fdatasync', 'fsync', 'ftruncate', 'close', 'rename', 'unlink', 'readdir', 'readFile', 'mkdir'] as const) {
      out[name] = (...args: unknown[]) => {
        if (this.epoch !== epoch) return Promise.reject(new ProcessGone());
        return (this[name] as (...a: unknown[]) => Promise<unknown>)(...args);
      };
    }
    return out as unknown as StorageFs;
  }

  /** The next call of `op` fails with `code`. */
  failNext(op: keyof StorageFs, code: Errno): void {
    this.failQueue.push({ op, code });
  }

  private enter(op: keyof StorageFs, path: string): void {
    if (process.env.HACTL_SIMFS_TRACE && (path.includes('snap') || op === 'fsync' || op === 'rename')) console.log(`call ${this.calls} ${op} ${path}`);
    this.calls++;
    this.onCall?.(op, path);
    const queued = this.failQueue.findIndex((f) => f.op === op);
    if (queued >= 0) {
      const { code } = this.failQueue.splice(queued, 1)[0]!;
      throw errnoError(code, op, path);
    }
    if (op !== 'close' && this.failRate > 0 && this.rng.chance(this.failRate)) {
      throw errnoError(this.rng.chance(0.5) ? 'ENOSPC' : 'EIO', op, path);
    }
  }

  private fd(fd: number): { inode: Inode; path: string } {
    const f = this.fds.get(fd);
    if (!f) throw Object.assign(new Error(`EBADF: bad file descriptor ${fd}`), { code: 'EBADF' });
    return { inode: this.inodes.get(f.inode)!, path: f.path };
  }

  async open(path: string, flags: string): Promise<number> {
    this.enter('open', path);
    let id = this.names.get(path);
    if (id === undefined) {
      if (flags === 'r' && this.isDir(path)) {
        const fd = this.nextFd++;
        this.fds.set(fd, { inode: -1, path });
        return fd;
      }
      if (flags !== 'w' && flags !== 'w+') throw enoent('open', path);
      id = this.nextInode++;
      this.inodes.set(id, { id, cur: Buffer.alloc(0), disk: Buffer.alloc(0), pending: [] });
      this.names.set(path, id);
      this.dirPending.push({ kind: 'link', name: path, inode: id });
    } else if (flags === 'w' || flags === 'w+') {
      const inode = this.inodes.get(id)!;
      inode.cur = Buffer.alloc(0);
      inode.pending.push({ kind: 'truncate', size: 0 });
    }
    const fd = this.nextFd++;
    this.fds.set(fd, { inode: id, path });
    return fd;
  }

  private isDir(path: string): boolean {
    return path === this.dir;
  }

  async write(fd: number, data: Buffer, offset: number, length: number, position: number): Promise<number> {
    const { inode, path } = this.fd(fd);
    this.calls++;
    this.onCall?.('write', path);
    let bytes = Buffer.from(data.subarray(offset, offset + length));
    const queued = this.failQueue.findIndex((f) => f.op === 'write');
    const failing = queued >= 0 ? this.failQueue.splice(queued, 1)[0]!.code : this.failRate > 0 && this.rng.chance(this.failRate) ? (this.rng.chance(0.5) ? 'ENOSPC' : 'EIO') : null;
    if (failing !== null) {
      // A full disk may take part of the write before refusing the rest.
      if (failing === 'ENOSPC' && this.rng.chance(0.5) && bytes.length > 1) {
        bytes = bytes.subarray(0, this.rng.int(1, bytes.length));
        inode.cur = writeAt(inode.cur, position, bytes);
        inode.pending.push({ kind: 'write', pos: position, data: bytes });
      }
      throw errnoError(failing, 'write', path);
    }
    inode.cur = writeAt(inode.cur, position, bytes);
    inode.pending.push({ kind: 'write', pos: position, data: bytes });
    return bytes.length;
  }

  async fdatasync(fd: number): Promise<void> {
    const { inode, path } = this.fd(fd);
    if (inode === undefined) return;
    try {
      this.enter('fdatasync', path);
    } catch (err) {
      // fsyncgate: the kernel reported the error once and forgot the dirty pages.
      if ((err as NodeJS.ErrnoException).code === 'EIO') inode.pending = [];
      throw err;
    }
    for (const p of inode.pending) inode.disk = p.kind === 'write' ? writeAt(inode.disk, p.pos, p.data) : truncateTo(inode.disk, p.size);
    inode.pending = [];
  }

  async fsync(fd: number): Promise<void> {
    const f = this.fds.get(fd);
    if (!f) throw Object.assign(new Error(`EBADF: bad file descriptor ${fd}`), { code: 'EBADF' });
    if (f.inode >= 0) return this.fdatasync(fd);
    this.enter('fsync', f.path);
    // A directory: every name change so far becomes durable.
    for (const op of this.dirPending) {
      if (op.kind === 'link') this.diskNames.set(op.name, op.inode);
      else this.diskNames.delete(op.name);
    }
    this.dirPending = [];
  }

  async ftruncate(fd: number, length: number): Promise<void> {
    const { inode, path } = this.fd(fd);
    this.enter('ftruncate', path);
    inode.cur = truncateTo(inode.cur, length);
    inode.pending.push({ kind: 'truncate', size: length });
  }

  async close(fd: number): Promise<void> {
    this.fds.delete(fd);
  }

  async rename(from: string, to: string): Promise<void> {
    this.enter('rename', from);
    const id = this.names.get(from);
    if (id === undefined) throw enoent('rename', from);
    this.names.delete(from);
    this.names.set(to, id);
    this.dirPending.push({ kind: 'unlink', name: from }, { kind: 'link', name: to, inode: id });
  }

  async unlink(path: string): Promise<void> {
    this.enter('unlink', path);
    if (!this.names.has(path)) throw enoent('unlink', path);
    this.names.delete(path);
    this.dirPending.push({ kind: 'unlink', name: path });
  }

  async readdir(path: string): Promise<string[]> {
    this.enter('readdir', path);
    const prefix = `${path}/`;
    return [...this.names.keys()].filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
  }

  async readFile(path: string): Promise<Buffer> {
    this.enter('readFile', path);
    const id = this.names.get(path);
    if (id === undefined) throw enoent('open', path);
    return Buffer.from(this.inodes.get(id)!.cur);
  }

  async mkdir(path: string): Promise<void> {
    this.enter('mkdir', path);
    this.dir = path;
  }

  /**
   * Power loss: keep what reached the disk, plus a random prefix of what did not (the first write
   * lost may land torn, sector by sector). Open descriptors are gone; the cache is the disk again.
   */
  crash(): { tornSectors: number; lostDirOps: number } {
    let tornSectors = 0;
    const keepDir = this.rng.int(0, this.dirPending.length + 1);
    for (const op of this.dirPending.slice(0, keepDir)) {
      if (op.kind === 'link') this.diskNames.set(op.name, op.inode);
      else this.diskNames.delete(op.name);
    }
    const lostDirOps = this.dirPending.length - keepDir;
    this.dirPending = [];
    for (const inode of this.inodes.values()) {
      const keep = this.rng.int(0, inode.pending.length + 1);
      for (const p of inode.pending.slice(0, keep)) inode.disk = p.kind === 'write' ? writeAt(inode.disk, p.pos, p.data) : truncateTo(inode.disk, p.size);
      const torn = inode.pending[keep];
      if (torn?.kind === 'write' && this.rng.chance(0.5)) {
        // Some of its sectors land, in no particular order.
        const first = Math.floor(torn.pos / SECTOR);
        const last = Math.floor((torn.pos + torn.data.length - 1) / SECTOR);
        for (let s = first; s <= last; s++) {
          if (!this.rng.chance(0.5)) continue;
          const a = Math.max(torn.pos, s * SECTOR);
          const b = Math.min(torn.pos + torn.data.length, (s + 1) * SECTOR);
          inode.disk = writeAt(inode.disk, a, torn.data.subarray(a - torn.pos, b - torn.pos));
          tornSectors++;
          if (process.env.HACTL_SIMFS_TRACE) console.log(`torn write of inode ${inode.id} at ${torn.pos}+${torn.data.length}: sector ${s} landed`);
        }
      }
      inode.pending = [];
      inode.cur = Buffer.from(inode.disk);
    }
    this.names = new Map(this.diskNames);
    for (const [id] of this.inodes) if (![...this.names.values()].includes(id)) this.inodes.delete(id);
    this.fds.clear();
    this.failQueue = [];
    this.epoch++;
    return { tornSectors, lostDirOps };
  }

  /** Flips one random bit of one random durable file (media corruption); returns where. */
  flipBit(filter: (name: string) => boolean = () => true): { file: string; offset: number } | null {
    const files = [...this.names.entries()].filter(([n, id]) => filter(n) && this.inodes.get(id)!.cur.length > 0);
    if (files.length === 0) return null;
    const [file, id] = files[this.rng.int(0, files.length)]!;
    const inode = this.inodes.get(id)!;
    const offset = this.rng.int(0, inode.cur.length);
    inode.cur[offset]! ^= 1 << this.rng.int(0, 8);
    inode.disk = Buffer.from(inode.cur);
    return { file, offset };
  }

  /** Names and sizes, for failure messages. */
  describe(): string {
    return [...this.names.entries()].map(([n, id]) => `${n} (${this.inodes.get(id)!.cur.length} B)`).join(', ');
  }
}
