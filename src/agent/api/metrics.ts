/**
 * `GET /metrics`: Prometheus text with Patroni's metric names, HELP texts and labels
 * (`{scope="…",name="…"}`), so Grafana dashboards built for Patroni work unchanged.
 */
import type { ClusterView } from '../../dcs/index.js';
import { configData, xlogLocation } from './health.js';
import type { MemberStatus, XlogReplica } from '../../protocol/index.js';
import type { HaSnapshot } from './types.js';

import { parseBool } from './units.js';

/** Patroni's numeric encoding of the PostgreSQL state (its PostgresqlState enum order); -1 = other. */
const STATE_CODES = [
  'initializing new cluster',
  'initdb failed',
  'running custom bootstrap script',
  'custom bootstrap failed',
  'creating replica',
  'running',
  'starting',
  'starting after custom bootstrap',
  'start failed',
  'restarting',
  'restart failed',
  'stopping',
  'stopped',
  'stop failed',
  'crashed',
] as const;

/** `2.0.2` → `020002`, `0.1.0` → `000100` (pre-release suffixes dropped). */
export function paddedVersion(version: string): string {
  return version
    .split('-')[0]!
    .split('.')
    .map((part) => part.replace(/\D/g, '').padStart(2, '0'))
    .join('');
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function epochSeconds(text: string | null | undefined): number {
  if (!text) return 0;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms / 1000 : 0;
}

const b = (value: boolean | undefined): number => (value ? 1 : 0);

export interface MetricsInput {
  status: MemberStatus;
  ha: HaSnapshot;
  view: ClusterView | null;
  version: string;
  scope: string;
  name: string;
}

export function renderMetrics({ status, ha, view, version, scope, name }: MetricsInput): string {
  const labels = `{scope="${escapeLabel(scope)}",name="${escapeLabel(name)}"}`;
  const lines: string[] = [];
  const metric = (metricName: string, type: 'gauge' | 'counter', help: string, value: number | string, extra?: string) => {
    lines.push(`# HELP ${metricName} ${help}`);
    if (extra) lines.push(extra);
    lines.push(`# TYPE ${metricName} ${type}`);
    lines.push(`${metricName}${labels} ${value}`);
  };
  const xlog = (status.xlog ?? {}) as Partial<XlogReplica>;
  const config = configData(view);

  metric('patroni_version', 'gauge', 'Patroni semver without periods.', paddedVersion(version));
  metric('patroni_postgres_running', 'gauge', 'Value is 1 if Postgres is running, 0 otherwise.', b(status.state === 'running'));
  metric('patroni_postmaster_start_time', 'gauge', 'Epoch seconds since Postgres started.', epochSeconds(status.postmaster_start_time));
  metric('patroni_primary', 'gauge', 'Value is 1 if this node is the leader, 0 otherwise.', b(status.role === 'primary'));
  metric(
    'patroni_xlog_location',
    'counter',
    'Current location of the Postgres transaction log, 0 if this node is not the leader.',
    xlogLocation(status),
  );
  metric(
    'patroni_standby_leader',
    'gauge',
    'Value is 1 if this node is the standby_leader, 0 otherwise.',
    b(status.role === 'standby_leader'),
  );
  metric('patroni_replica', 'gauge', 'Value is 1 if this node is a replica, 0 otherwise.', b(status.role === 'replica'));
  metric('patroni_sync_standby', 'gauge', 'Value is 1 if this node is a sync standby, 0 otherwise.', b(status.sync_standby));
  metric('patroni_quorum_standby', 'gauge', 'Value is 1 if this node is a quorum standby, 0 otherwise.', b(status.quorum_standby));
  metric(
    'patroni_xlog_received_location',
    'counter',
    'Current location of the received Postgres transaction log, 0 if this node is not a replica.',
    xlog.received_location ?? 0,
  );
  metric(
    'patroni_xlog_replayed_location',
    'counter',
    'Current location of the replayed Postgres transaction log, 0 if this node is not a replica.',
    xlog.replayed_location ?? 0,
  );
  metric(
    'patroni_xlog_replayed_timestamp',
    'gauge',
    'Current timestamp of the replayed Postgres transaction log, 0 if null.',
    epochSeconds(xlog.replayed_timestamp),
  );
  metric('patroni_xlog_paused', 'gauge', 'Value is 1 if the Postgres xlog is paused, 0 otherwise.', b(xlog.paused === true));
  if ((status.server_version ?? 0) >= 90600) {
    metric(
      'patroni_postgres_streaming',
      'gauge',
      'Value is 1 if Postgres is streaming, 0 otherwise.',
      b(status.replication_state === 'streaming'),
    );
    metric(
      'patroni_postgres_in_archive_recovery',
      'gauge',
      'Value is 1 if Postgres is replicating from archive, 0 otherwise.',
      b(status.replication_state === 'in archive recovery'),
    );
  }
  metric(
    'patroni_postgres_server_version',
    'gauge',
    'Version of Postgres (if running), 0 otherwise.',
    status.server_version ?? 0,
  );
  metric('patroni_cluster_unlocked', 'gauge', 'Value is 1 if the cluster is unlocked, 0 if locked.', b(status.cluster_unlocked));
  metric(
    'patroni_failsafe_mode_is_active',
    'gauge',
    'Value is 1 if failsafe mode is active, 0 if inactive.',
    b(status.failsafe_mode_is_active),
  );
  metric(
    'patroni_failsafe_mode_enabled',
    'gauge',
    'Value is 1 if failsafe mode is enabled, 0 if disabled.',
    // The loop's dynamic config (from the last view read) says it while the store is down, when it matters.
    b(ha.failsafeMode ?? parseBool(config.failsafe_mode) === true),
  );
  metric('patroni_postgres_timeline', 'counter', 'Postgres timeline of this node (if running), 0 otherwise.', status.timeline ?? 0);
  metric(
    'patroni_dcs_last_seen',
    'gauge',
    'Epoch timestamp when DCS was last contacted successfully by Patroni.',
    status.dcs_last_seen ?? 0,
  );
  metric('patroni_pending_restart', 'gauge', 'Value is 1 if the node needs a restart, 0 otherwise.', b(status.pending_restart));
  metric('patroni_is_paused', 'gauge', 'Value is 1 if auto failover is disabled, 0 otherwise.', b(status.pause || ha.paused));
  const priority = Number(status.tags?.failover_priority ?? 1);
  metric(
    'patroni_failover_priority',
    'gauge',
    'Value is used for failover priority. Lower values mean higher priority, 0 means the node is not a candidate.',
    parseBool(status.tags?.nofailover) === true ? 0 : Number.isFinite(priority) ? priority : 1,
  );
  const stateCode = (STATE_CODES as readonly string[]).indexOf(status.state);
  metric(
    'patroni_postgres_state',
    'gauge',
    'Numeric representation of Postgres state.',
    stateCode,
    `# Values: ${STATE_CODES.map((s, i) => `${i}=${s.replace(/ /g, '_')}`).join(', ')}`,
  );
  return lines.join('\n') + '\n';
}
