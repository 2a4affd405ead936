/**
 * Gathering what decide() needs from the outside world, once per cycle: the local PostgreSQL (one
 * SQL connection, plus pg_controldata when it is not running) and, when a race or a handover is
 * possible, the other members' `GET /patroni` in parallel with a short timeout.
 */
import { PostgresAuthRejected, type ControlData, type ServerState } from '../../postgres/index.js';
import type { Member } from '../../dcs/index.js';
import { decodeJson, decodeMemberStatus, httpRequest, type MemberStatus, type TlsSettings } from '../../protocol/index.js';
import type { LocalPostgres } from './local-postgres.js';
import type { LocalPostgresState, MemberHealth } from './types.js';

/** What the loop learnt about the local server this cycle: decide's input plus what the member key publishes. */
export interface LocalObservation {
  state: LocalPostgresState;
  /** SQL view of the running server; null when not running or not answering. */
  server: ServerState | null;
  /** Names of settings waiting for a restart (pg_settings.pending_restart). */
  pendingRestartSettings: string[];
  /** The server runs but refuses our connection (pg_hba, password): PostgreSQL's text and what to change. */
  connectionRefused?: string;
  /**
   * Not running: the last checkpoint in pg_control, the position it stopped at. The member key reports it
   * so that a stopped or diverged member still shows its lag, as Patroni shows the old position.
   */
  stoppedAtLsn?: bigint;
}

const PRIMARY_STATES = new Set(['in production', 'shut down', 'shutting down', 'in crash recovery']);

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

/**
 * Reads the local server's state. Never throws for an unhealthy server: a server that runs but does
 * not answer SQL yet is `starting`; one that crashed is `crashed`.
 */
export async function observeLocal(
  pg: LocalPostgres,
  options: { sqlTimeoutMs?: number; cache?: { value: ControlDataCache | null }; recheck?: boolean } = {},
): Promise<LocalObservation> {
  const dir = await pg.dataDirectory();
  const base: LocalPostgresState = {
    role: 'stopped',
    dataDir: dir.kind,
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
  if (dir.kind !== 'valid') return { state: base, server: null, pendingRestartSettings: [] };

  const status = await pg.postmaster();
  const cached = options.cache?.value ?? null;
  let control: ControlData | null = null;
  if (status.state === 'running' && cached && cached.dataDir === dir.path && cached.pid === status.pid) {
    base.systemIdentifier = cached.systemIdentifier;
    base.timeline = cached.timeline;
    base.rewindCapable = cached.rewindCapable;
  } else {
    try {
      control = await pg.controlData();
    } catch {
      // A data directory whose control file cannot be read is not usable.
      return { state: { ...base, dataDir: 'invalid' }, server: null, pendingRestartSettings: [] };
    }
    base.systemIdentifier = control.systemIdentifier;
    base.timeline = control.timeline;
    base.rewindCapable = control.walLogHints || control.dataChecksumVersion !== 0;
    // A fresh copy carries its source's control file: it never ran here, as a primary or at all.
    base.wasPrimary = !dir.standbySignal && !dir.backupLabel && PRIMARY_STATES.has(control.clusterState);
    if (options.cache) {
      options.cache.value =
        status.state === 'running' && status.pid !== null
          ? { dataDir: dir.path, pid: status.pid, systemIdentifier: control.systemIdentifier, timeline: control.timeline, rewindCapable: base.rewindCapable }
          : null;
    }
  }

  if (status.state !== 'running') {
    if (!control) throw new Error('unreachable: control data is read whenever PostgreSQL is not running');
    // No postmaster.pid but the control file says it was running: it died without cleaning up.
    // Unless backup_label is still there: then the control file is the clone source's (pg_basebackup
    // copies a primary's `in production`) and this copy was never started — a clone or reinitialize
    // between its copy and its start, which `hactl reinit --wait` must not be told is "crashed".
    const unclean =
      !dir.backupLabel && (control.clusterState === 'in production' || control.clusterState === 'in crash recovery' || control.clusterState === 'shutting down');
    const role = status.state === 'crashed' || unclean ? 'crashed' : 'stopped';
    return { state: { ...base, role }, server: null, pendingRestartSettings: [], stoppedAtLsn: control.checkpointLsn ?? undefined };
  }
  let answer: { server: ServerState; pendingRestart: string[] };
  try {
    answer = await pg.serverState(options.sqlTimeoutMs ?? 2000);
  } catch (err) {
    // A postmaster that died between the pid check and the query (kill -9, OOM) is crashed, not
    // starting: look once more. Taken for "starting", a killed primary with primary_start_timeout 0
    // was demoted as "startup is taking too long" instead of "Primary crashed. Failing over." (compat
    // example-configs, 1 run in 3), and with a timeout it would wait for a start nobody began.
    if (options.recheck !== false) {
      const again = await pg.postmaster();
      if (again.state !== 'running' || again.pid !== status.pid) return observeLocal(pg, { ...options, recheck: false });
    }
    // Running but not answering: still starting (or stuck starting). wasPrimary tells whether it
    // comes up as a primary (no standby.signal), which decide must not let run without the key.
    const observation: LocalObservation = { state: { ...base, role: 'starting', wasPrimary: !dir.standbySignal }, server: null, pendingRestartSettings: [] };
    // A refusal will not go away by waiting: the loop reports it every cycle (it looks like "starting" to decide).
    if (err instanceof PostgresAuthRejected) observation.connectionRefused = err.message;
    return observation;
  }
  const { server, pendingRestart } = answer;
  const state: LocalPostgresState = {
    ...base,
    role: server.inRecovery ? 'replica' : 'primary',
    timeline: server.timeline,
    writeLsn: server.currentLsn,
    receivedLsn: server.receivedLsn,
    replayedLsn: server.replayedLsn,
    wasPrimary: !server.inRecovery,
    pendingRestart: pendingRestart.length > 0,
    walReceiverStreaming: server.inRecovery && server.walReceiver?.status === 'streaming',
  };
  return { state, server, pendingRestartSettings: pendingRestart };
}

function lsnOf(v: number | null | undefined): bigint | null {
  return typeof v === 'number' ? BigInt(v) : null;
}

/** What the leader race reads from a peer's `/patroni` (decoded by src/protocol); exported for tests. */
export function healthFromStatus(name: string, body: MemberStatus): MemberHealth {
  const role: MemberHealth['role'] = body.role === 'primary' || body.role === 'replica' || body.role === 'standby_leader' ? body.role : 'unknown';
  const xlog = body.xlog;
  let walLsn: bigint | null;
  if (role === 'primary') walLsn = xlog && 'location' in xlog ? lsnOf(xlog.location) : null;
  else {
    const received = xlog && 'received_location' in xlog ? lsnOf(xlog.received_location) : null;
    const replayed = xlog && 'replayed_location' in xlog ? lsnOf(xlog.replayed_location) : null;
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
    fenceVeto: fenceVetoOf(body.fence),
  };
}

/**
 * A member whose fence is on but not running will not take the leader key (fence/policy.ts); paused
 * (`disabled_reason`) is no veto, since nothing races in pause anyway. Absent (Patroni, fence off): none.
 */
export function fenceVetoOf(fence: MemberStatus['fence']): string | null {
  if (!fence || fence.mode !== 'on' || fence.running || fence.disabled_reason) return null;
  return 'its fence process is not running, so it would not take the leader key';
}

function unreachable(name: string): MemberHealth {
  return { name, reachable: false, role: 'unknown', state: 'unknown', walLsn: null, timeline: null, nofailover: false, failoverPriority: 0, watchdogFailed: false };
}

export type FetchStatus = (url: string, timeoutMs: number) => Promise<unknown>;

/**
 * GET with a hard timeout, JSON body; a non-2xx with a JSON body is still a status (Patroni returns
 * 503 bodies). The protocol's node:http client, not the global fetch (see src/protocol/http.ts);
 * over HTTPS with the CA and client certificate `tls()` gives (Patroni's PatroniRequest).
 */
export function fetchStatusJson(tls: () => TlsSettings = () => ({})): FetchStatus {
  return async (url, timeoutMs) => decodeJson((await httpRequest(url, { timeoutMs, tls: tls() })).text, url);
}

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
  const fetchStatus = options.fetchStatus ?? fetchStatusJson();
  const others = members.filter((m) => m.name !== me && m.apiUrl !== null);
  return Promise.all(
    others.map(async (m) => {
      try {
        return healthFromStatus(m.name, decodeMemberStatus(await fetchStatus(m.apiUrl!, timeoutMs), m.apiUrl!));
      } catch {
        // No answer, or not a member status: Patroni ignores such a member in the race.
        return unreachable(m.name);
      }
    }),
  );
}
