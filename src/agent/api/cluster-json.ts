/**
 * `GET /cluster` and `GET /history` bodies from a cluster view: Patroni's cluster_as_json, so
 * `hactl list` and scripts written against Patroni read the same fields.
 */
import type { ClusterView, Member } from '../../dcs/index.js';
import { formatLsn } from '../../postgres/lsn.js';
import { configData, isStandbyCluster, isSyncListed, synchronousMode } from './health.js';
import { parseBool } from './units.js';
import type { ClusterJson, ClusterMember, ClusterMemberRole, HistoryRow, ScheduledRestart } from '../../protocol/index.js';

/** Host and port of a member's PostgreSQL from its `conn_url` (`postgres://host:port/postgres`). */
function hostPort(connUrl: string | null): { host?: string; port?: number } {
  if (!connUrl) return {};
  try {
    const url = new URL(connUrl);
    if (!url.hostname) return {};
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return url.port ? { host, port: Number(url.port) } : { host };
  } catch {
    // Not a URL: /cluster shows the member without host and port, as Patroni does.
    return {};
  }
}

function memberJson(member: Member, view: ClusterView): ClusterMember {
  const leaderName = view.leader?.name ?? null;
  const mode = synchronousMode(view);
  let role: ClusterMemberRole;
  if (member.name === leaderName) role = isStandbyCluster(view) ? 'standby_leader' : 'leader';
  else if (mode !== 'off' && isSyncListed(view, member.name)) role = mode === 'quorum' ? 'quorum_standby' : 'sync_standby';
  else role = 'replica';

  // A replica shows `streaming` when it is; the leader shows its PostgreSQL state (Patroni 4).
  const state = (role !== 'leader' ? member.replicationState : null) || member.state;
  const out: ClusterMember = { name: member.name, role, state };
  if (member.apiUrl) out.api_url = member.apiUrl;
  Object.assign(out, hostPort(member.connUrl));
  if (member.timeline !== null) out.timeline = member.timeline;
  if (member.pendingRestart) out.pending_restart = true;
  if (member.pendingRestartReason) out.pending_restart_reason = member.pendingRestartReason;
  const scheduled = member.extra?.scheduled_restart;
  if (scheduled && typeof scheduled === 'object') out.scheduled_restart = scheduled as ScheduledRestart;
  if (Object.keys(member.tags).length > 0) out.tags = member.tags;
  if (member.fence) out.fence = member.fence;
  if (member.watchdog) out.watchdog = member.watchdog;

  if (member.name !== leaderName) {
    const clusterLsn = view.status.lastLsn ?? 0n;
    const positions: Array<['receive_' | 'replay_' | '', bigint | null]> = [
      ['receive_', member.receivedLsn],
      ['replay_', member.replayedLsn],
      ['', member.xlogLocation],
    ];
    for (const [prefix, lsn] of positions) {
      const lsnKey = `${prefix}lsn` as 'lsn';
      const lagKey = `${prefix}lag` as 'lag';
      if (!lsn) {
        // Patroni writes `unknown` in both fields when the position is missing (or 0)
        (out as unknown as Record<string, unknown>)[lsnKey] = 'unknown';
        out[lagKey] = 'unknown';
      } else {
        out[lsnKey] = formatLsn(lsn);
        out[lagKey] = clusterLsn >= lsn ? Number(clusterLsn - lsn) : 0;
      }
    }
  }
  return out;
}

export function clusterJson(view: ClusterView, scope: string): ClusterJson {
  const members = view.members.map((m) => memberJson(m, view)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: ClusterJson = { members, scope };
  // hactl extension: the `initialize` key (what patronictl list titles the table with), so `hactl list`
  // needs this one request; Patroni's /cluster has no such field and its clients ignore unknown ones.
  if (view.initialize) out.system_identifier = view.initialize;
  if (parseBool(configData(view).pause) === true) out.pause = true;
  // hactl extension (issue 16): `list` says when a primary may outlive a store outage.
  if (parseBool(configData(view).failsafe_mode) === true) out.failsafe_mode = true;
  const failover = view.failover;
  if (failover?.scheduledAt) {
    out.scheduled_switchover = { at: failover.scheduledAt.text };
    if (failover.leader) out.scheduled_switchover.from = failover.leader;
    if (failover.candidate) out.scheduled_switchover.to = failover.candidate;
  }
  return out;
}

export function historyRows(view: ClusterView): HistoryRow[] {
  return (view.history?.lines ?? []).map((line) => {
    const row: HistoryRow = [line.timeline, Number(line.lsn), line.reason];
    if (line.timestamp !== null || line.newLeader !== null) row.push(line.timestamp ?? '');
    if (line.newLeader !== null) row.push(line.newLeader);
    return row;
  });
}
