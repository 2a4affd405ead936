/** Fixtures shared by the storage tests: temp dirs, a recording logger, a fault-injecting fs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry, EntryType } from '../../../src/raft/core/types.js';
import type { Logger } from '../../../src/raft/kv/types.js';
import { nodeFs, type StorageFs } from '../../../src/raft/storage/index.js';

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'hactl-storage-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RecordingLogger extends Logger {
  lines: { level: 'debug' | 'info' | 'warn' | 'error'; message: string }[];
  at(level: 'warn' | 'error'): string[];
}

export function recordingLogger(): RecordingLogger {
  const lines: RecordingLogger['lines'] = [];
  return {
    lines,
    debug: (message) => lines.push({ level: 'debug', message }),
    info: (message) => lines.push({ level: 'info', message }),
    warn: (message) => lines.push({ level: 'warn', message }),
    error: (message) => lines.push({ level: 'error', message }),
    at: (level) => lines.filter((l) => l.level === level).map((l) => l.message),
  };
}

/** An entry whose payload names its own index and term, so any misplaced entry is visible. */
export function entry(index: number, term: number, type: EntryType = 'normal'): Entry {
  return { index, term, type, data: Buffer.from(`${index}:${term}`) };
}

export function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

/** [index, term] pairs, for compact assertions. */
export function ids(list: readonly Entry[]): [number, number][] {
  return list.map((e) => [e.index, e.term]);
}

export function errno(code: string, syscall: string): NodeJS.ErrnoException {
  const messages: Record<string, string> = { ENOSPC: 'no space left on device', EIO: 'i/o error' };
  return Object.assign(new Error(`${code}: ${messages[code] ?? code}, ${syscall}`), { code, syscall });
}

type Op = keyof StorageFs;

/**
 * node:fs with counters and injection points. `before` runs ahead of each call and may throw
 * (an injected errno) or return a promise (to hold the call, e.g. an fdatasync in flight).
 * `writeFault` makes writes persist only `afterBytes` bytes and then fail, like ENOSPC mid-write.
 */
export class FaultFs implements StorageFs {
  readonly counts: Partial<Record<Op, number>> = {};
  private readonly paths = new Map<number, string>();
  before: ((op: Op, path: string) => void | Promise<void>) | null = null;
  writeFault: { error: NodeJS.ErrnoException; afterBytes: number } | null = null;

  count(op: Op): number {
    return this.counts[op] ?? 0;
  }

  pathOf(fd: number): string {
    return this.paths.get(fd) ?? `fd ${fd}`;
  }

  private async enter(op: Op, path: string): Promise<void> {
    this.counts[op] = this.count(op) + 1;
    await this.before?.(op, path);
  }

  async open(path: string, flags: string): Promise<number> {
    await this.enter('open', path);
    const fd = await nodeFs.open(path, flags);
    this.paths.set(fd, path);
    return fd;
  }

  async write(fd: number, data: Buffer, offset: number, length: number, position: number): Promise<number> {
    await this.enter('write', this.pathOf(fd));
    if (this.writeFault) {
      const { error, afterBytes } = this.writeFault;
      if (afterBytes > 0) await nodeFs.write(fd, data, offset, Math.min(length, afterBytes), position);
      throw error;
    }
    return nodeFs.write(fd, data, offset, length, position);
  }

  async fdatasync(fd: number): Promise<void> {
    await this.enter('fdatasync', this.pathOf(fd));
    return nodeFs.fdatasync(fd);
  }

  async fsync(fd: number): Promise<void> {
    await this.enter('fsync', this.pathOf(fd));
    return nodeFs.fsync(fd);
  }

  async ftruncate(fd: number, length: number): Promise<void> {
    await this.enter('ftruncate', this.pathOf(fd));
    return nodeFs.ftruncate(fd, length);
  }

  async close(fd: number): Promise<void> {
    this.counts.close = this.count('close') + 1;
    this.paths.delete(fd);
    return nodeFs.close(fd);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.enter('rename', from);
    return nodeFs.rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    await this.enter('unlink', path);
    return nodeFs.unlink(path);
  }

  async readdir(path: string): Promise<string[]> {
    await this.enter('readdir', path);
    return nodeFs.readdir(path);
  }

  async readFile(path: string): Promise<Buffer> {
    await this.enter('readFile', path);
    return nodeFs.readFile(path);
  }

  async mkdir(path: string): Promise<void> {
    await this.enter('mkdir', path);
    return nodeFs.mkdir(path);
  }
}
