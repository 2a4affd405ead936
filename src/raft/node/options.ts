/**
 * Options of a Raft node in milliseconds and entries, and their conversion to the core's ticks.
 * Defaults follow pysyncobj (heartbeat 100 ms, election U[400, 1400) ms) so a Patroni `raft:` section
 * behaves as users expect; validation follows pysyncobj's rules with messages a human can act on.
 */
import type { RaftConfig } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import type { RaftStorage } from '../storage/types.js';
import type { RaftTransport } from '../transport/types.js';
import type { Dialer } from '../transport/types.js';

export interface RaftNodeOptions {
  /** Advertised address "host:port"; also this member's id. */
  selfAddr: string;
  /** The other members of a brand-new cluster (ignored once the log or a snapshot carries a membership). */
  partnerAddrs: string[];
  /** Address to listen on when it differs from selfAddr (NAT, 0.0.0.0). */
  bindAddr?: string;
  /**
   * Directory for the voter file, journal and snapshots. Required: a voter that forgets its term,
   * vote or log on restart can vote twice in a term. Only tests may run without one, and must say
   * so with `inMemoryForTests` (or inject `storage`).
   */
  dataDir?: string | null;
  /** Tests only: keep everything in memory (MemoryStorage). Never set by the agent or the CLI. */
  inMemoryForTests?: boolean;
  /** Cluster secret. Required unless allowUnauthenticated: without it anyone who reaches the port takes part. */
  password?: string | null;
  /** Run without a password on purpose (raft.allow_unauthenticated: loopback demos, tests). */
  allowUnauthenticated?: boolean;
  /** The cluster's name (the scope), which salts the password's key; random per process when absent. */
  clusterName?: string | null;
  tickMs?: number;
  heartbeatMs?: number;
  electionTimeoutMinMs?: number;
  electionTimeoutMaxMs?: number;
  /** Take a snapshot and compact the log after this many applied entries … */
  snapshotEntries?: number;
  /** … or once the entries applied since the last snapshot carry this many bytes. */
  snapshotLogBytes?: number;
  /** Default bound of write() and read() when the caller gives none. */
  requestTimeoutMs?: number;
  logger?: Logger;
  /** Injected for tests; the defaults are the real ones. */
  now?: () => number;
  random?: () => number;
  storage?: RaftStorage;
  transport?: RaftTransport;
  /** RPC connections to other members (forwarding, join requests); the in-memory twin in tests. */
  dial?: Dialer;
}

export interface ResolvedOptions {
  selfAddr: string;
  partnerAddrs: string[];
  bindAddr: string;
  dataDir: string | null;
  password: string | null;
  clusterName: string | null;
  tickMs: number;
  heartbeatMs: number;
  electionTimeoutMinMs: number;
  electionTimeoutMaxMs: number;
  snapshotEntries: number;
  snapshotLogBytes: number;
  requestTimeoutMs: number;
}

export class RaftConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftConfigError';
  }
}

export const DEFAULTS = {
  tickMs: 50,
  heartbeatMs: 100,
  electionTimeoutMinMs: 400,
  electionTimeoutMaxMs: 1400,
  snapshotEntries: 10_000,
  snapshotLogBytes: 64 * 1024 * 1024,
  requestTimeoutMs: 10_000,
} as const;

const ADDR = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

export function checkAddr(addr: string, what: string): string {
  const m = ADDR.exec(addr);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new RaftConfigError(`${what} "${addr}" is not host:port`);
  }
  return addr;
}

export function resolveOptions(o: RaftNodeOptions): ResolvedOptions {
  const selfAddr = checkAddr(o.selfAddr, 'self_addr');
  const partnerAddrs = [...new Set(o.partnerAddrs.map((a) => checkAddr(a, 'partner address')))].filter((a) => a !== selfAddr);
  if (!o.dataDir && !o.inMemoryForTests && !o.storage) {
    throw new RaftConfigError(
      'raft.data_dir is required: a voting member keeps its term, vote and log on disk, or a restart could make it vote twice in one term ' +
        '(Patroni used the working directory when it was missing; set data_dir: . for that)',
    );
  }
  if (!o.password && !o.allowUnauthenticated && !o.transport) {
    throw new RaftConfigError(
      'raft.password is required: without it anyone who can reach the Raft port can vote, write and expire keys; ' +
        'set raft.allow_unauthenticated: true to run without one on purpose (a loopback test cluster)',
    );
  }
  const r: ResolvedOptions = {
    selfAddr,
    partnerAddrs,
    bindAddr: o.bindAddr ? checkAddr(o.bindAddr, 'bind_addr') : selfAddr,
    dataDir: o.dataDir || null,
    password: o.password || null,
    clusterName: o.clusterName || null,
    tickMs: o.tickMs ?? DEFAULTS.tickMs,
    heartbeatMs: o.heartbeatMs ?? DEFAULTS.heartbeatMs,
    electionTimeoutMinMs: o.electionTimeoutMinMs ?? DEFAULTS.electionTimeoutMinMs,
    electionTimeoutMaxMs: o.electionTimeoutMaxMs ?? DEFAULTS.electionTimeoutMaxMs,
    snapshotEntries: o.snapshotEntries ?? DEFAULTS.snapshotEntries,
    snapshotLogBytes: o.snapshotLogBytes ?? DEFAULTS.snapshotLogBytes,
    requestTimeoutMs: o.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
  };
  const positive: (keyof ResolvedOptions)[] = ['tickMs', 'heartbeatMs', 'electionTimeoutMinMs', 'electionTimeoutMaxMs', 'snapshotEntries', 'snapshotLogBytes', 'requestTimeoutMs'];
  for (const k of positive) {
    const v = r[k] as number;
    if (!Number.isFinite(v) || v <= 0) throw new RaftConfigError(`${k} must be a positive number, got ${v}`);
  }
  if (r.heartbeatMs < r.tickMs) throw new RaftConfigError(`heartbeat (${r.heartbeatMs} ms) must be at least one tick (${r.tickMs} ms)`);
  // pysyncobj's rule: an election timeout shorter than three heartbeats makes a healthy leader look dead.
  if (r.electionTimeoutMinMs <= 3 * r.heartbeatMs) {
    throw new RaftConfigError(`min election timeout (${r.electionTimeoutMinMs} ms) must be more than 3 × heartbeat (${r.heartbeatMs} ms)`);
  }
  if (r.electionTimeoutMaxMs <= r.electionTimeoutMinMs) {
    throw new RaftConfigError(`max election timeout (${r.electionTimeoutMaxMs} ms) must be greater than min (${r.electionTimeoutMinMs} ms)`);
  }
  return r;
}

/** The core counts in ticks; round so that 100 ms / 50 ms = 2 ticks exactly. */
export function toRaftConfig(r: ResolvedOptions, random: () => number): RaftConfig {
  const ticks = (ms: number) => Math.max(1, Math.round(ms / r.tickMs));
  return {
    id: r.selfAddr,
    heartbeatTicks: ticks(r.heartbeatMs),
    electionTicksMin: ticks(r.electionTimeoutMinMs),
    electionTicksMax: Math.max(ticks(r.electionTimeoutMaxMs), ticks(r.electionTimeoutMinMs) + 1),
    random,
    maxEntriesPerAppend: 512,
    maxAppendBytes: 4 * 1024 * 1024,
    maxInflightAppends: 64,
    snapshotChunkBytes: 1024 * 1024,
    catchUpEntries: 64,
  };
}
