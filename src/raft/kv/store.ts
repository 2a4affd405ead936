/**
 * The replicated key-value state machine the DCS runs on (see lease.ts for the TTL argument).
 *
 * Deterministic: given the same committed entries in the same order, every node reaches the same
 * keys, versions and client sessions. The only non-replicated state is lease bookkeeping — the
 * local monotonic time at which this node applied each key's current write — which drives
 * `expiredKeys` on the Raft leader and nothing else; expiry itself is a replicated `expire`
 * command. No timers and no clock reads: callers pass `localMonoNowMs` (performance.now()).
 *
 * Conventions:
 * - `version` of a key is the Raft index of the write that last set it (renewals included), so
 *   versions only grow; `ifVersion: 0` means "create only if absent".
 * - A `set` without `ttlMs` (or with null) stores a key that never expires, also when the previous
 *   value had a lease.
 * - Keys whose lease ran out stay readable until the leader's `expire` commits: every node must
 *   answer reads the same way, and only a committed command may change what they see.
 * - Prefixes are path-segment aware: "/svc/a" covers "/svc/a" and "/svc/a/x", never "/svc/ab"
 *   (Patroni's raw string prefix deleted neighbours); a prefix ending in "/" or "" is plain.
 *
 * Client sessions (exactly-once writes): per clientId the store keeps the last seq and its result.
 * A retry of that seq gets the stored result without re-applying; an older seq gets
 * `stale-request`. A client therefore keeps ONE write outstanding and uses a clientId unique to its
 * process incarnation (seq restarts at 1). Sessions idle for SESSION_IDLE_ENTRIES Raft entries, or
 * beyond MAX_SESSIONS (least recently used first), are forgotten — counted in log indexes, not
 * time, so every node forgets the same ones at the same entry. A retry from a forgotten session
 * applies as new. These limits must be equal on every node: they are constants, not configuration.
 *
 * Snapshots carry keys and sessions (de-duplication survives compaction and InstallSnapshot) but
 * not lease times: on restore every lease restarts from the restore time, which is later than any
 * holder's send, so a restored node may expire late but never early.
 */
import { decodeCommand, isClientCommand, KvCommandError, type KvInput } from './command.js';
import { decodeSnapshot, encodeSnapshot, KvStoreError, SNAPSHOT_FORMAT_VERSION } from './snapshot.js';
import type { ExpireCommand, KvCommand, KvEntry, KvEvent, KvResult, Logger } from './types.js';

export const SESSION_IDLE_ENTRIES = 100_000;
export const MAX_SESSIONS = 10_000;

export { KvStoreError } from './snapshot.js';

export interface KvStoreOptions {
  logger?: Logger;
  /** Tests only: must be identical on every node of a cluster. */
  sessionIdleEntries?: number;
  maxSessions?: number;
}

export interface KvStats {
  keyCount: number;
  leaseCount: number;
  sessionCount: number;
  appliedIndex: number;
}

export type KvListener = (event: KvEvent) => void;

interface Session {
  seq: number;
  result: KvResult;
  /** Raft index of the last entry from this client: idleness is measured in entries. */
  lastIndex: number;
}

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export class KvStore {
  private readonly entries = new Map<string, KvEntry>();
  /** key → local monotonic ms when this node applied the key's current (ttl-carrying) version. */
  private readonly leaseStart = new Map<string, number>();
  /** Iteration order = least recently used first (re-inserted on use), which makes eviction O(1). */
  private readonly sessions = new Map<string, Session>();
  private readonly listeners = new Set<KvListener>();
  private readonly logger: Logger;
  private readonly sessionIdleEntries: number;
  private readonly maxSessions: number;
  private lastApplied = 0;

  constructor(options: KvStoreOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.sessionIdleEntries = options.sessionIdleEntries ?? SESSION_IDLE_ENTRIES;
    this.maxSessions = options.maxSessions ?? MAX_SESSIONS;
  }

  get appliedIndex(): number {
    return this.lastApplied;
  }

  /**
   * Apply the committed entry at `index`. Indexes must increase (gaps are fine: config and noop
   * entries never reach the store). Events are emitted after the state change is complete.
   */
  apply(index: number, input: KvInput, localMonoNowMs: number): KvResult {
    if (!Number.isSafeInteger(index) || index <= this.lastApplied) {
      throw new KvStoreError(`kv: entry ${index} applied out of order (last applied ${this.lastApplied})`);
    }
    this.lastApplied = index;
    const events: KvEvent[] = [];
    let result: KvResult;
    if (isClientCommand(input)) {
      const session = this.sessions.get(input.clientId);
      if (session !== undefined && input.seq === session.seq) {
        result = session.result;
      } else if (session !== undefined && input.seq < session.seq) {
        result = { ok: false, reason: 'stale-request', current: this.currentFor(input.command) };
      } else {
        result = this.execute(index, input.command, localMonoNowMs, events);
      }
      if (session === undefined || input.seq >= session.seq) {
        this.sessions.delete(input.clientId);
        this.sessions.set(input.clientId, { seq: input.seq, result, lastIndex: index });
      }
    } else {
      result = this.execute(index, input, localMonoNowMs, events);
    }
    this.evictSessions(index);
    for (const event of events) this.emit(event);
    return result;
  }

  /**
   * Decode and apply a committed entry's data. An undecodable entry is skipped (logged, store
   * untouched, index consumed) — the same decision on every node, since all hold the same bytes.
   */
  applyEncoded(index: number, data: Uint8Array, localMonoNowMs: number): KvResult | KvCommandError {
    let input: KvInput;
    try {
      input = decodeCommand(data);
    } catch (err) {
      const error = err instanceof KvCommandError ? err : new KvCommandError(String(err));
      if (!Number.isSafeInteger(index) || index <= this.lastApplied) {
        throw new KvStoreError(`kv: entry ${index} applied out of order (last applied ${this.lastApplied})`);
      }
      this.lastApplied = index;
      this.logger.error(`kv: skipping undecodable committed entry ${index}: ${error.message}`);
      return error;
    }
    return this.apply(index, input, localMonoNowMs);
  }

  get(key: string): KvEntry | null {
    return this.entries.get(key) ?? null;
  }

  /** Entries under `prefix` (path-segment aware, see header), sorted by key. */
  list(prefix: string): KvEntry[] {
    const out: KvEntry[] = [];
    for (const entry of this.entries.values()) if (underPrefix(entry.key, prefix)) out.push(entry);
    return out.sort((a, b) => compareStrings(a.key, b.key));
  }

  /**
   * Keys whose lease has run out on THIS node's clock (ttl elapsed since this node applied their
   * current version), soonest deadline first. The Raft leader proposes `expire` for each; other
   * nodes never act on this. The caller remembers what it already proposed (same key+version).
   */
  expiredKeys(localMonoNowMs: number): { key: string; version: number }[] {
    const due: { key: string; version: number; deadline: number }[] = [];
    for (const [key, startedAt] of this.leaseStart) {
      const entry = this.entries.get(key);
      if (entry === undefined || entry.ttlMs === null) continue;
      const deadline = startedAt + entry.ttlMs;
      if (localMonoNowMs >= deadline) due.push({ key, version: entry.version, deadline });
    }
    due.sort((a, b) => a.deadline - b.deadline || compareStrings(a.key, b.key));
    return due.map(({ key, version }) => ({ key, version }));
  }

  /** Earliest local deadline of any lease (for a timer), or null when no key has a ttl. */
  nextLeaseDeadlineMs(): number | null {
    let next: number | null = null;
    for (const [key, startedAt] of this.leaseStart) {
      const ttlMs = this.entries.get(key)?.ttlMs;
      if (ttlMs == null) continue;
      if (next === null || startedAt + ttlMs < next) next = startedAt + ttlMs;
    }
    return next;
  }

  /** What remains of a key's lease on this node's clock (0 once due), or null without a lease. */
  leaseRemainingMs(key: string, localMonoNowMs: number): number | null {
    const entry = this.entries.get(key);
    const startedAt = this.leaseStart.get(key);
    if (entry === undefined || entry.ttlMs === null || startedAt === undefined) return null;
    return Math.max(0, startedAt + entry.ttlMs - localMonoNowMs);
  }

  stats(): KvStats {
    return {
      keyCount: this.entries.size,
      leaseCount: this.leaseStart.size,
      sessionCount: this.sessions.size,
      appliedIndex: this.lastApplied,
    };
  }

  onEvent(listener: KvListener): void {
    this.listeners.add(listener);
  }

  off(listener: KvListener): void {
    this.listeners.delete(listener);
  }

  snapshot(): Uint8Array {
    return encodeSnapshot({
      v: SNAPSHOT_FORMAT_VERSION,
      appliedIndex: this.lastApplied,
      entries: [...this.entries.values()].sort((a, b) => compareStrings(a.key, b.key)),
      // Kept in LRU order: the order decides which session is evicted next.
      sessions: [...this.sessions].map(([clientId, s]) => [clientId, s.seq, s.lastIndex, s.result]),
    });
  }

  /** Rebuild a store from `snapshot()` output; every lease restarts at `localMonoNowMs` (see header). */
  static restore(data: Uint8Array, localMonoNowMs: number, options: KvStoreOptions = {}): KvStore {
    const snap = decodeSnapshot(data);
    const store = new KvStore(options);
    store.lastApplied = snap.appliedIndex;
    for (const entry of snap.entries) {
      store.entries.set(entry.key, Object.freeze({ ...entry }));
      if (entry.ttlMs !== null) store.leaseStart.set(entry.key, localMonoNowMs);
    }
    for (const [clientId, seq, lastIndex, result] of snap.sessions) {
      store.sessions.set(clientId, { seq, lastIndex, result });
    }
    return store;
  }

  private execute(index: number, cmd: KvCommand | ExpireCommand, now: number, events: KvEvent[]): KvResult {
    switch (cmd.op) {
      case 'set': {
        const prev = this.entries.get(cmd.key) ?? null;
        const failure = checkConditions(prev, cmd.ifVersion, cmd.ifValue);
        if (failure !== null) return failure;
        const ttlMs = cmd.ttlMs ?? null;
        const entry: KvEntry = Object.freeze({
          key: cmd.key,
          value: cmd.value,
          version: index,
          createVersion: prev?.createVersion ?? index,
          ttlMs,
        });
        this.entries.set(cmd.key, entry);
        if (ttlMs === null) this.leaseStart.delete(cmd.key);
        else this.leaseStart.set(cmd.key, now);
        events.push({ type: 'set', entry, prev });
        return { ok: true, entry, prev };
      }
      case 'delete': {
        const prev = this.entries.get(cmd.key) ?? null;
        if (prev === null) return { ok: false, reason: 'not-found', current: null };
        const failure = checkConditions(prev, cmd.ifVersion, cmd.ifValue);
        if (failure !== null) return failure;
        this.remove(prev, false, events);
        return { ok: true, entry: null, prev };
      }
      case 'deletePrefix': {
        const victims = this.list(cmd.prefix);
        for (const prev of victims) this.remove(prev, false, events);
        return { ok: true, entry: null, prev: null, deleted: victims.length };
      }
      case 'expire': {
        const current = this.entries.get(cmd.key) ?? null;
        if (current === null) return { ok: false, reason: 'not-found', current };
        // A renewal (new version) committed before the expiry: the lease was extended, keep it.
        if (current.version !== cmd.version || current.ttlMs === null) return { ok: false, reason: 'version-mismatch', current };
        this.remove(current, true, events);
        return { ok: true, entry: null, prev: current };
      }
    }
  }

  private remove(prev: KvEntry, expired: boolean, events: KvEvent[]): void {
    this.entries.delete(prev.key);
    this.leaseStart.delete(prev.key);
    events.push({ type: 'delete', key: prev.key, prev, expired });
  }

  private currentFor(cmd: KvCommand): KvEntry | null {
    return cmd.op === 'deletePrefix' ? null : (this.entries.get(cmd.key) ?? null);
  }

  private evictSessions(index: number): void {
    for (const [clientId, session] of this.sessions) {
      if (this.sessions.size <= this.maxSessions && index - session.lastIndex < this.sessionIdleEntries) break;
      this.sessions.delete(clientId);
    }
  }

  private emit(event: KvEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        // A watcher's bug must not stop the apply loop (that would freeze this node's state).
        this.logger.error(`kv: event listener failed on ${event.type} ${'key' in event ? event.key : event.entry.key}: ${(err as Error).message}`);
      }
    }
  }
}

function checkConditions(current: KvEntry | null, ifVersion: number | undefined, ifValue: string | undefined): KvResult | null {
  if (ifVersion !== undefined) {
    if (ifVersion === 0) {
      if (current !== null) return { ok: false, reason: 'version-mismatch', current };
    } else if (current === null) {
      return { ok: false, reason: 'not-found', current };
    } else if (current.version !== ifVersion) {
      return { ok: false, reason: 'version-mismatch', current };
    }
  }
  if (ifValue !== undefined) {
    if (current === null) return { ok: false, reason: 'not-found', current };
    if (current.value !== ifValue) return { ok: false, reason: 'value-mismatch', current };
  }
  return null;
}

export function underPrefix(key: string, prefix: string): boolean {
  if (prefix === '' || prefix.endsWith('/')) return key.startsWith(prefix);
  return key === prefix || key.startsWith(`${prefix}/`);
}

/** Code-unit order, not locale order: identical on every node whatever its ICU data. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
