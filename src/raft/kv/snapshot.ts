/**
 * Serialised form of a KvStore (keys and client sessions; lease times are local and not included).
 * JSON, versioned, validated on restore: a snapshot arrives from another node or from disk.
 */
import type { KvEntry, KvResult } from './types.js';

export const SNAPSHOT_FORMAT_VERSION = 1;

export class KvStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KvStoreError';
  }
}

export interface SnapshotBody {
  v: number;
  appliedIndex: number;
  /** Sorted by key. */
  entries: KvEntry[];
  /** Least recently used first. */
  sessions: [clientId: string, seq: number, lastIndex: number, result: KvResult][];
}

export function encodeSnapshot(body: SnapshotBody): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(body));
}

export function decodeSnapshot(data: Uint8Array): SnapshotBody {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (err) {
    throw new KvStoreError(`kv snapshot is not valid JSON (${(err as Error).message})`);
  }
  return checkSnapshot(body);
}

function checkSnapshot(body: unknown): SnapshotBody {
  const bad = (what: string): never => {
    throw new KvStoreError(`kv snapshot is malformed: ${what}`);
  };
  if (typeof body !== 'object' || body === null) bad('not an object');
  const b = body as Record<string, unknown>;
  if (b.v !== SNAPSHOT_FORMAT_VERSION) bad(`format version ${JSON.stringify(b.v)} is not supported`);
  if (!Number.isSafeInteger(b.appliedIndex) || (b.appliedIndex as number) < 0) bad('appliedIndex');
  if (!Array.isArray(b.entries)) bad('entries');
  for (const e of b.entries as unknown[]) {
    const x = e as Partial<KvEntry> | null;
    if (
      typeof x !== 'object' || x === null ||
      typeof x.key !== 'string' || typeof x.value !== 'string' ||
      !Number.isSafeInteger(x.version) || !Number.isSafeInteger(x.createVersion) ||
      !(x.ttlMs === null || (typeof x.ttlMs === 'number' && x.ttlMs > 0))
    ) {
      bad(`entry ${JSON.stringify(e)}`);
    }
  }
  if (!Array.isArray(b.sessions)) bad('sessions');
  for (const s of b.sessions as unknown[]) {
    if (
      !Array.isArray(s) || s.length !== 4 || typeof s[0] !== 'string' ||
      !Number.isSafeInteger(s[1]) || !Number.isSafeInteger(s[2]) ||
      typeof s[3] !== 'object' || s[3] === null || typeof (s[3] as { ok?: unknown }).ok !== 'boolean'
    ) {
      bad(`session ${JSON.stringify(s)}`);
    }
  }
  return b as unknown as SnapshotBody;
}
