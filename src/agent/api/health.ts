/**
 * The health checks as pure functions of (path, query, member status, HA snapshot, cluster view):
 * Patroni's `do_GET` rules, including its substring routing (`/foo-replica` is a replica check) so
 * load-balancer configs written for Patroni behave the same.
 */
import type { ClusterView } from '../../dcs/index.js';
import type { MemberStatus, XlogPrimary, XlogReplica } from '../../protocol/index.js';
import type { HaSnapshot } from './types.js';
import { parseBool, parseBytes } from './units.js';

type Code = 200 | 503;

/** First non-empty value of a query parameter (Python's parse_qs drops blank values). */
export function queryValue(query: URLSearchParams, key: string): string | null {
  const value = query.get(key);
  return value === null || value === '' ? null : value;
}

function xlogReplica(status: MemberStatus): Partial<XlogReplica> {
  return (status.xlog ?? {}) as Partial<XlogReplica>;
}

export function xlogLocation(status: MemberStatus): number {
  return (status.xlog as Partial<XlogPrimary> | undefined)?.location ?? 0;
}

export function configData(view: ClusterView | null): Record<string, unknown> {
  return view?.config?.data ?? {};
}

/** Patroni's is_standby_cluster: a `standby_cluster` section with host, port or restore_command. */
export function isStandbyCluster(view: ClusterView | null): boolean {
  const section = configData(view).standby_cluster;
  if (typeof section !== 'object' || section === null) return false;
  const s = section as Record<string, unknown>;
  return Boolean(s.host || s.port || s.restore_command);
}

export function synchronousMode(view: ClusterView | null): 'off' | 'on' | 'quorum' {
  const value = configData(view).synchronous_mode;
  if (value === 'quorum') return 'quorum';
  return parseBool(value) ? 'on' : 'off';
}

/** Is `name` listed in the `sync` key (case-insensitive, like Patroni's SyncState.matches)? */
export function isSyncListed(view: ClusterView | null, name: string): boolean {
  const lower = name.toLowerCase();
  return view?.sync?.syncStandbys.some((s) => s.toLowerCase() === lower) ?? false;
}

/**
 * Adds what Patroni's get_postgresql_status derives from the cluster rather than from SQL, when
 * the agent did not already: sync/quorum standby flags, pause, cluster_unlocked.
 */
export function decorateStatus(status: MemberStatus, ha: HaSnapshot, view: ClusterView | null): MemberStatus {
  const out: MemberStatus = { ...status };
  const mode = synchronousMode(view);
  if (out.role === 'replica' && mode !== 'off' && isSyncListed(view, out.patroni.name)) {
    if (mode === 'quorum') out.quorum_standby ??= true;
    else out.sync_standby ??= true;
  }
  if (ha.paused) out.pause ??= true;
  if (!view || !view.leader) out.cluster_unlocked ??= true;
  if (ha.failsafeActive) out.failsafe_mode_is_active ??= true;
  return out;
}

/** The status code of a health-check GET (`/`, `/primary`, `/replica?lag=…`, unknown paths → 503). */
export function healthCheckCode(
  rawPath: string,
  query: URLSearchParams,
  status: MemberStatus,
  ha: HaSnapshot,
  view: ClusterView | null,
): Code {
  const path = rawPath === '/' ? '/primary' : rawPath;
  const leaderOptime = Math.max(Number(view?.status.lastLsn ?? 0n), ha.latestEndLsn ?? 0);
  const replayed = xlogReplica(status).replayed_location ?? 0;
  const lagText = queryValue(query, 'lag');
  const maxLag = (lagText === null ? null : parseBytes(lagText)) ?? Number.POSITIVE_INFINITY;
  const isLagging = leaderOptime > 0 && leaderOptime > replayed + maxLag;
  const wantedReplicationState = queryValue(query, 'replication_state');
  const replicationStateMatches = wantedReplicationState === null || status.replication_state === wantedReplicationState;
  const noloadbalance = parseBool(status.tags?.noloadbalance) === true;
  // A standby cluster by the store's config key, or by the member's own dynamic config (role standby_leader):
  // right after bootstrap the key may not be written yet, and a standby leader is never a primary.
  const standby = isStandbyCluster(view) || status.role === 'standby_leader';

  const replicaCode: Code =
    !noloadbalance && !isLagging && status.role === 'replica' && status.state === 'running' && replicationStateMatches
      ? 200
      : 503;

  let leaderCode: Code;
  let primaryCode: Code;
  let standbyLeaderCode: Code;
  if (!view && status.pause) {
    // DCS unreachable in maintenance mode: nobody renews the key, so trust what PostgreSQL says.
    leaderCode = status.role === 'primary' || status.role === 'standby_leader' ? 200 : 503;
    primaryCode = status.role === 'primary' ? 200 : 503;
    standbyLeaderCode = status.role === 'standby_leader' ? 200 : 503;
  } else if (ha.isLeader) {
    leaderCode = 200;
    if (standby) {
      primaryCode = 503;
      standbyLeaderCode = status.role === 'replica' || status.role === 'standby_leader' ? 200 : 503;
    } else {
      primaryCode = 200;
      standbyLeaderCode = 503;
    }
  } else {
    leaderCode = primaryCode = standbyLeaderCode = 503;
  }
  const standbyClusterReplica = ha.isLeader && standby ? 503 : replicaCode;

  let code: Code = 503;
  let ignoreTags = false;
  if (path.includes('standby_leader') || path.includes('standby-leader')) {
    code = standbyLeaderCode;
    ignoreTags = true;
  } else if (path.includes('leader')) {
    code = leaderCode;
    ignoreTags = true;
  } else if (path.includes('master') || path.includes('primary') || path.includes('read-write')) {
    code = primaryCode;
    ignoreTags = true;
  } else if (path.includes('replica')) {
    code = standbyClusterReplica;
  } else if (path.includes('read-only') && !path.includes('sync') && !path.includes('quorum')) {
    code = primaryCode === 200 || standbyLeaderCode === 200 ? 200 : standbyClusterReplica;
  } else if (path.includes('health')) {
    code = status.state === 'running' ? 200 : 503;
  } else if (view) {
    // sync/async checks need to know the `sync` key; without the DCS they all fail
    const isQuorum = status.quorum_standby === true;
    const isSync = status.sync_standby === true;
    const leaderish = primaryCode === 200 || standbyLeaderCode === 200;
    if ((path === '/sync' || path === '/synchronous') && isSync) code = standbyClusterReplica;
    else if (path === '/quorum' && isQuorum) code = standbyClusterReplica;
    else if ((path === '/async' || path === '/asynchronous') && !isSync && !isQuorum) code = standbyClusterReplica;
    else if (path === '/read-only-quorum') code = leaderish ? 200 : isQuorum ? standbyClusterReplica : 503;
    else if (path === '/read-only-sync' || path === '/read-only-synchronous') {
      code = leaderish ? 200 : isSync ? standbyClusterReplica : 503;
    }
  }

  if (!ignoreTags && code === 200 && !tagsMatch(query, status)) code = 503;
  return code;
}

/** `?tag_<key>=<value>`: every requested tag must be set and equal (non-strings compared as lower-case text). */
function tagsMatch(query: URLSearchParams, status: MemberStatus): boolean {
  const tags = status.tags ?? {};
  for (const key of new Set(query.keys())) {
    if (!key.startsWith('tag_')) continue;
    const wanted = queryValue(query, key);
    if (wanted === null) continue;
    const actual = tags[key.slice('tag_'.length)];
    if (actual === undefined || actual === null) return false;
    const text = typeof actual === 'string' ? actual : String(actual).toLowerCase();
    if (text !== wanted) return false;
  }
  return true;
}

/** `/liveness`: the HA loop ran recently (ttl on a primary, 2×ttl on a replica), or the cluster is paused. */
export function livenessCode(status: MemberStatus, ha: HaSnapshot, nowMs: number): Code {
  if (ha.paused || ha.nextRunAtMs === null) return 200;
  const isPrimary = status.role === 'primary' && status.state === 'running';
  const thresholdMs = ha.ttlSeconds * 1000 * (isPrimary ? 1 : 2);
  return ha.nextRunAtMs + thresholdMs > nowMs ? 200 : 503;
}

/** `/readiness?lag=&mode=write|apply`: the reason it is not ready, or null when ready. */
export function readinessFailure(
  query: URLSearchParams,
  status: MemberStatus,
  ha: HaSnapshot,
  view: ClusterView | null,
): string | null {
  if (ha.isLeader) return null;
  if (status.state !== 'running') return 'PostgreSQL is not running';
  if (status.replication_state !== 'streaming') return 'PostgreSQL replication state is not streaming';
  const latestEndLsn = ha.latestEndLsn ?? 0;
  if (!view && !latestEndLsn) return ha.failsafeActive ? null : 'DCS is not accessible';
  const leaderOptime = Math.max(Number(view?.status.lastLsn ?? 0n), latestEndLsn);
  const mode = queryValue(query, 'mode') === 'write' ? 'write' : 'apply';
  const xlog = xlogReplica(status);
  const position = (mode === 'write' ? xlog.received_location : xlog.replayed_location) ?? 0;
  const lag = leaderOptime - position;
  const lagText = queryValue(query, 'lag');
  const maxLag = (lagText === null ? null : parseBytes(lagText)) ?? ha.maximumLagOnFailoverBytes;
  return lag > maxLag ? `Replication ${mode} lag ${lag} exceeds maximum allowable ${maxLag}` : null;
}
