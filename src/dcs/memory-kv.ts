/**
 * The key-value "server" of the in-memory store as its clients see it (memory-store.ts implements
 * it, memory.ts uses it). Its own file so that the client and the server do not import each other.
 */
import type { DcsClock } from './clock.js';

export interface StoredKey {
  value: string;
  version: number;
  ttlMs: number | null;
  expiresAtMs: number | null;
}

export interface MemoryKeyChange {
  key: string;
  prev: StoredKey | null;
  next: StoredKey | null;
  expired: boolean;
}

export interface WriteConditions {
  ifVersion?: number;
  ifValue?: string;
}

export interface MemoryKv {
  readonly clock: DcsClock;
  get(key: string): (StoredKey & { expiresInMs: number | null }) | null;
  /** Live keys under `prefix`, sorted. */
  list(prefix: string): Array<{ key: string; entry: StoredKey }>;
  set(key: string, value: string, options?: WriteConditions & { ttlMs?: number | null }): boolean;
  delete(key: string, conditions?: WriteConditions): boolean;
  deletePrefix(prefix: string): number;
  subscribe(listener: (change: MemoryKeyChange) => void): () => void;
}
