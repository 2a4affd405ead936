/**
 * The "server" of the in-memory store (memory.ts): keys with versions, TTL leases on an injected
 * clock, compare-and-set, and change events. Versions are one global counter that grows with every
 * write (renewals included), like the Raft index; `ifVersion: 0` is create-if-absent. An expired
 * key disappears as one event the instant its lease ends (Raft adds an expiry delay; the HA loop
 * must not depend on that delay, so the memory store leaves it out).
 */
import { systemClock, type DcsClock } from './clock.js';
import { DcsError } from './errors.js';
import { clusterKeys, DEFAULT_NAMESPACE } from './keys.js';
import { MemoryDcs } from './memory.js';
import type { MemoryKeyChange, MemoryKv, StoredKey, WriteConditions } from './memory-kv.js';

export type { MemoryKeyChange, StoredKey, WriteConditions } from './memory-kv.js';

export class MemoryDcsStore implements MemoryKv {
  readonly clock: DcsClock;
  private readonly keys = new Map<string, StoredKey>();
  private readonly expiryTimers = new Map<string, () => void>();
  private readonly listeners = new Set<(change: MemoryKeyChange) => void>();
  private revision = 0;

  constructor(options: { clock?: DcsClock } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  client(memberName: string, options: { scope: string; namespace?: string }): MemoryDcs {
    return new MemoryDcs(this, memberName, clusterKeys(options.namespace ?? DEFAULT_NAMESPACE, options.scope));
  }

  get(key: string): (StoredKey & { expiresInMs: number | null }) | null {
    const entry = this.live(key);
    if (!entry) return null;
    return { ...entry, expiresInMs: entry.expiresAtMs === null ? null : entry.expiresAtMs - this.clock.nowMs() };
  }

  /** Live keys under `prefix`, sorted. */
  list(prefix: string): Array<{ key: string; entry: StoredKey }> {
    const out: Array<{ key: string; entry: StoredKey }> = [];
    for (const key of [...this.keys.keys()].sort()) {
      if (!key.startsWith(prefix)) continue;
      const entry = this.live(key);
      if (entry) out.push({ key, entry });
    }
    return out;
  }

  set(key: string, value: string, options: WriteConditions & { ttlMs?: number | null } = {}): boolean {
    const prev = this.live(key);
    if (!this.conditionsHold(prev, options)) return false;
    const ttlMs = options.ttlMs ?? null;
    if (ttlMs !== null && !(ttlMs > 0)) throw new DcsError(`ttl must be positive, got ${ttlMs}`);
    const next: StoredKey = {
      value,
      version: ++this.revision,
      ttlMs,
      expiresAtMs: ttlMs === null ? null : this.clock.nowMs() + ttlMs,
    };
    this.keys.set(key, next);
    this.scheduleExpiry(key, next);
    this.emit({ key, prev, next, expired: false });
    return true;
  }

  delete(key: string, conditions: WriteConditions = {}): boolean {
    const prev = this.live(key);
    if (!prev || !this.conditionsHold(prev, conditions)) return false;
    this.remove(key, prev, false);
    return true;
  }

  deletePrefix(prefix: string): number {
    let count = 0;
    for (const { key, entry } of this.list(prefix)) {
      this.remove(key, entry, false);
      count++;
    }
    return count;
  }

  subscribe(listener: (change: MemoryKeyChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private conditionsHold(current: StoredKey | null, c: WriteConditions): boolean {
    if (c.ifVersion !== undefined && (current?.version ?? 0) !== c.ifVersion) return false;
    if (c.ifValue !== undefined && current?.value !== c.ifValue) return false;
    return true;
  }

  /** The entry if its lease has not run out; lazily drops an expired one (timers may not have fired yet). */
  private live(key: string): StoredKey | null {
    const entry = this.keys.get(key);
    if (!entry) return null;
    if (entry.expiresAtMs !== null && this.clock.nowMs() >= entry.expiresAtMs) {
      this.remove(key, entry, true);
      return null;
    }
    return entry;
  }

  private remove(key: string, prev: StoredKey, expired: boolean): void {
    this.keys.delete(key);
    this.expiryTimers.get(key)?.();
    this.expiryTimers.delete(key);
    this.emit({ key, prev, next: null, expired });
  }

  private scheduleExpiry(key: string, entry: StoredKey): void {
    this.expiryTimers.get(key)?.();
    this.expiryTimers.delete(key);
    if (entry.expiresAtMs === null) return;
    // The timer only makes expiry visible to watchers at the right moment; `live` is the authority.
    const cancel = this.clock.setTimer(entry.expiresAtMs - this.clock.nowMs(), () => {
      this.expiryTimers.delete(key);
      if (this.keys.get(key) === entry) this.live(key);
    });
    this.expiryTimers.set(key, cancel);
  }

  private emit(change: MemoryKeyChange): void {
    for (const listener of [...this.listeners]) listener(change);
  }
}

