/**
 * Gathering what decide() needs from the outside world, once per cycle: the local PostgreSQL (one
 * SQL connection, plus pg_controldata when it is not running) and, when a race or a handover is
 * possible, the other members' `GET /patroni` in parallel with a short timeout.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  getStatus,
  queryState,
  readControlData,
  withConnection,
  type ControlData,
  type PgContext,
  type ServerState,
} from '../../postgres/index.js';
import type { Member } from '../../dcs/index.js';
import { httpRequest } from '../../client/http.js';
import type { LocalPostgresState, MemberHealth } from './types.js';

/** What the loop learnt about the local server this cycle: decide's input plus what the member key publishes. */
export interface LocalObservation {
  state: LocalPostgresState;
  /** SQL view of the running server; null when not running or not answering. */
  server: ServerState | null;
  /** Names of settings waiting for a restart (pg_settings.pending_restart). */
  pendingRestartSettings: string[];
}

async function dataDirKind(dataDir: string): Promise<LocalPostgresState['dataDir']> {
  let entries: string[];
  try {
    entries = await fs.readdir(dataDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'empty';
    return 'invalid';
  }
  // Hidden entries are our own clone staging directories (src/postgres/replica.ts), not data.
  if (entries.filter((e) => !e.startsWith('.')).length === 0) return 'empty';
  const ok = await Promise.all(['PG_VERSION', 'global/pg_control'].map((f) => fs.access(path.join(dataDir, f)).then(() => true, () => false)));
  return ok.every(Boolean) ? 'valid' : 'invalid';
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

const PRIMARY_STATES = new Set(['in production', 'shut down', 'shutting down', 'in crash recovery']);

/**
 * Reads the local server's state. Never throws for an unhealthy server: a server that runs but does
 * not answer SQL yet is `starting`; one that crashed is `crashed`.
 */
/**
 * What pg_controldata told about the running server and cannot change while it runs; spares a
 * process spawn per cycle (idle CPU matters: one agent per host, forever).
 */
export interface ControlDataCache {
  dataDir: string;
  pid: number;
  systemIdentifier: string;
  timeline: number;
  rewindCapable: boolean;
}

export async function observeLocal(
  ctx: PgContext,
  options: { sqlTimeoutMs?: number; cache?: { value: ControlDataCache | null } } = {},
): Promise<LocalObservation> {
  const dataDir = await dataDirKind(ctx.options.data_dir);
  const base: LocalPostgresState = {
    role: 'stopped',
    dataDir,
    systemIdentifier: null,
    timeline: null,
    writeLsn: null,
    receivedLsn: null,
    replayedLsn: null,
    receivingFrom: null,
    wasPrimary: false,
    pendingRestart: false,
    rewindCapable: false,
  };
  if (dataDir !== 'valid') return { state: base, server: null, pendingRestartSettings: [] };

  const standbySignal = await exists(path.join(ctx.options.data_dir, 'standby.signal'));
  const status = await getStatus(ctx);
  const cached = options.cache?.value ?? null;
  let control: ControlData | null = null;
  if (status.state === 'running' && cached && cached.dataDir === ctx.options.data_dir && cached.pid === status.pid) {
    base.systemIdentifier = cached.systemIdentifier;
    base.timeline = cached.timeline;
    base.rewindCapable = cached.rewindCapable;
  } else {
    try {
      control = await readControlData(ctx);
    } catch {
      // A data directory whose control file cannot be read is not usable.
      return { state: { ...base, dataDir: 'invalid' }, server: null, pendingRestartSettings: [] };
    }
    base.systemIdentifier = control.systemIdentifier;
    base.timeline = control.timeline;
    base.rewindCapable = control.walLogHints || control.dataChecksumVersion !== 0;
    base.wasPrimary = !standbySignal && PRIMARY_STATES.has(control.clusterState);
    if (options.cache) {
      options.cache.value =
        status.state === 'running' && status.pid !== null
          ? { dataDir: ctx.options.data_dir, pid: status.pid, systemIdentifier: control.systemIdentifier, timeline: control.timeline, rewindCapable: base.rewindCapable }
          : null;
    }
  }

  if (status.state !== 'running') {
    if (!control) throw new Error('unreachable: control data is read whenever PostgreSQL is not running');
    // No postmaster.pid but the control file says it was running: it died without cleaning up.
    const unclean = control.clusterState === 'in production' || control.clusterState === 'in crash recovery' || control.clusterState === 'shutting down';
    const role = status.state === 'crashed' || unclean ? 'crashed' : 'stopped';
    return { state: { ...base, role }, server: null, pendingRestartSettings: [] };
  }
  try {
    const { server, pending } = await withConnection(
      ctx,
      async (client) => {
        const server = await queryState(client);
        const res = await client.query<{ name: string }>('SELECT name FROM pg_catalog.pg_settings WHERE pending_restart ORDER BY name');
        return { server, pending: res.rows.map((r) => r.name) };
      },
      { connectTimeoutMs: options.sqlTimeoutMs ?? 2000 },
    );
    const state: LocalPostgresState = {
      ...base,
      role: server.inRecovery ? 'replica' : 'primary',
      timeline: server.timeline,
      writeLsn: server.currentLsn,
      receivedLsn: server.receivedLsn,
      replayedLsn: server.replayedLsn,
      wasPrimary: !server.inRecovery,
      pendingRestart: pending.length > 0,
    };
    return { state, server, pendingRestartSettings: pending };
  } catch {
    // Running but not answering: still starting (or stuck starting). wasPrimary tells whether it
    // comes up as a primary (no standby.signal), which decide must not let run without the key.
    return { state: { ...base, role: 'starting', wasPrimary: !standbySignal }, server: null, pendingRestartSettings: [] };
  }
}

/** The subset of Patroni's `GET /patroni` body the leader race reads. */
interface PatroniStatusBody {
  state?: string;
  role?: string;
  timeline?: number;
  xlog?: { location?: number | string; received_location?: number | string; replayed_location?: number | string };
  tags?: Record<string, unknown>;
  watchdog_failed?: boolean;
}

function lsnOf(v: unknown): bigint | null {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  return null;
}

/** Converts a `/patroni` answer; exported for tests. */
export function healthFromStatus(name: string, body: PatroniStatusBody): MemberHealth {
  const roleText = body.role === 'master' ? 'primary' : body.role;
  const role: MemberHealth['role'] =
    roleText === 'primary' || roleText === 'replica' || roleText === 'standby_leader' ? roleText : 'unknown';
  const xlog = body.xlog ?? {};
  let walLsn: bigint | null;
  if (role === 'primary') walLsn = lsnOf(xlog.location);
  else {
    const received = lsnOf(xlog.received_location);
    const replayed = lsnOf(xlog.replayed_location);
    walLsn = received === null ? replayed : replayed === null ? received : received > replayed ? received : replayed;
  }
  const tags = body.tags ?? {};
  const priority = typeof tags.failover_priority === 'number' ? tags.failover_priority : 1;
  const nofailover = tags.nofailover === true || priority <= 0;
  return {
    name,
    reachable: true,
    role,
    state: body.state ?? 'unknown',
    walLsn,
    timeline: typeof body.timeline === 'number' ? body.timeline : null,
    nofailover,
    failoverPriority: nofailover ? 0 : priority,
    watchdogFailed: body.watchdog_failed === true,
  };
}

function unreachable(name: string): MemberHealth {
  return { name, reachable: false, role: 'unknown', state: 'unknown', walLsn: null, timeline: null, nofailover: false, failoverPriority: 0, watchdogFailed: false };
}

export type FetchStatus = (url: string, timeoutMs: number) => Promise<unknown>;

/**
 * GET with a hard timeout, JSON body; a non-2xx with a JSON body is still a status (Patroni returns 503 bodies).
 * node:http, not the global fetch: fetch compiles undici's llhttp WebAssembly on first use, a ~30 MB
 * malloc peak and ~10 MB of resident memory that the agent would keep for its lifetime.
 */
export const fetchStatusJson: FetchStatus = async (url, timeoutMs) => JSON.parse((await httpRequest(url, { timeoutMs })).text) as unknown;

/**
 * Patroni asks every other member with an api_url in parallel, 2 s timeout, no retries; members that
 * do not answer are reported unreachable (decide ignores them).
 */
export async function collectMemberHealth(
  members: readonly Member[],
  me: string,
  options: { timeoutMs?: number; fetchStatus?: FetchStatus } = {},
): Promise<MemberHealth[]> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const fetchStatus = options.fetchStatus ?? fetchStatusJson;
  const others = members.filter((m) => m.name !== me && m.apiUrl !== null);
  return Promise.all(
    others.map(async (m) => {
      try {
        const body = await fetchStatus(m.apiUrl!, timeoutMs);
        if (body === null || typeof body !== 'object') return unreachable(m.name);
        return healthFromStatus(m.name, body as PatroniStatusBody);
      } catch {
        return unreachable(m.name);
      }
    }),
  );
}
