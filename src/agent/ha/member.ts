/**
 * What this member publishes in `members/<name>` every cycle (Patroni's touch_member): role,
 * PostgreSQL state, where to reach it, its WAL position and timeline, tags, version.
 */
import type { HactlConfig } from '../../config/index.js';
import type { ClusterView, MemberData, MemberRole } from '../../dcs/index.js';
import type { FenceStatusBody } from '../fence/index.js';
import type { ScheduledRestart } from '../../protocol/index.js';
import { apiUrl, connUrl } from '../settings.js';
import type { WatchdogStatus } from '../watchdog/index.js';
import type { LocalObservation } from './inputs.js';
import type { LongActionName } from './types.js';

/** The member state in Patroni's words while a long action runs. */
function stateDuring(action: LongActionName | null): string | null {
  switch (action) {
    case 'bootstrap':
      return 'initializing new cluster';
    case 'clone':
    case 'reinitialize':
      return 'creating replica';
    case 'starting primary after failure':
      return 'starting';
    case 'restart':
      return 'restarting';
    default:
      return null;
  }
}

/**
 * The `state` of the member key and GET /patroni. A postmaster that died is `crashed`, except in
 * pause: Patroni sets `stopped` there (nothing will start it; its patroni_api feature reads
 * state=stopped after a replica's postmaster is killed in pause).
 */
export function postgresStateName(obs: LocalObservation, action: LongActionName | null, paused = false): string {
  const during = stateDuring(action);
  if (during) return during;
  switch (obs.state.role) {
    case 'primary':
    case 'replica':
      return 'running';
    case 'starting':
      return 'starting';
    case 'crashed':
      return paused ? 'stopped' : 'crashed';
    default:
      return 'stopped';
  }
}

/**
 * The role published in the member key and GET /patroni. `standbyLeader`: we hold the leader key of
 * a standby cluster (Patroni's standby_leader role, which `list`, `topology` and the
 * demote-cluster/promote-cluster waits read).
 */
export function memberRole(obs: LocalObservation, standbyLeader = false): MemberRole {
  if (obs.state.dataDir !== 'valid') return 'uninitialized';
  if (obs.state.role === 'primary') return 'primary';
  return standbyLeader ? 'standby_leader' : 'replica';
}

/** Whether this member is a standby cluster's standby leader, as the last cycle saw it. */
export function isStandbyLeader(me: string, view: ClusterView | null, standbyCluster: unknown): boolean {
  return standbyCluster != null && view?.leader?.name === me;
}

/**
 * The fence in a word for `hactl list -e`: `off` (configured so), `fenced` (it killed PostgreSQL,
 * until PostgreSQL runs again), `dead` (the process is down), `paused`, `armed 4.2s` (time left on
 * the deadline when the key was written), `on` (running, nothing to enforce: not the primary).
 */
export function fenceSummary(s: FenceStatusBody): string {
  if (s.mode === 'off') return 'off';
  if (s.last_fenced) return 'fenced';
  if (!s.running) return 'dead';
  if (s.disabled_reason) return s.disabled_reason;
  if (s.armed && s.deadline_remaining_ms !== null) return `armed ${(Math.max(0, s.deadline_remaining_ms) / 1000).toFixed(1)}s`;
  return 'on';
}

/**
 * The watchdog in a word: `off`, `failed` (required but unusable: peers skip this member, Patroni's
 * watchdog_failed), `active 25s` (device open, its timeout), `idle` (not the leader: device closed).
 */
export function watchdogSummary(s: WatchdogStatus): string {
  if (s.mode === 'off') return 'off';
  if (!s.healthy) return 'failed';
  if (s.active) return `active ${s.timeoutSeconds ?? s.configuredTimeoutSeconds}s`;
  return 'idle';
}

export function memberData(
  local: HactlConfig,
  obs: LocalObservation,
  action: LongActionName | null,
  options: { version: string; paused: boolean; fence?: FenceStatusBody | null; watchdog?: WatchdogStatus | null; scheduledRestart?: ScheduledRestart | null; standbyLeader?: boolean },
): MemberData {
  const { state, server } = obs;
  const primary = state.role === 'primary';
  const data: MemberData = {
    role: memberRole(obs, options.standbyLeader),
    state: postgresStateName(obs, action, options.paused),
    apiUrl: apiUrl(local),
    connUrl: connUrl(local),
    version: options.version,
    timeline: state.timeline,
    // A stopped (or diverged, not started) member keeps reporting where it stopped, so GET /cluster and
    // `list` show its lag growing as Patroni does.
    xlogLocation: primary ? state.writeLsn : (state.replayedLsn ?? obs.stoppedAtLsn ?? null),
    receivedLsn: primary ? null : state.receivedLsn,
    replayedLsn: primary ? null : state.replayedLsn,
    replicationState: state.role === 'replica' ? (server?.walReceiver?.status === 'streaming' ? 'streaming' : 'in archive recovery') : null,
    tags: local.tags,
    pendingRestart: state.pendingRestart,
  };
  if (state.pendingRestart) {
    data.pendingRestartReason = Object.fromEntries(obs.pendingRestartSettings.map((n) => [n, { old_value: null, new_value: null }]));
  }
  if (options.paused) data.pause = true;
  if (options.fence) data.fence = fenceSummary(options.fence);
  if (options.watchdog) data.watchdog = watchdogSummary(options.watchdog);
  // Patroni keeps the scheduled restart in the member key: every agent's GET /cluster shows it, and an agent started again reads it back.
  if (options.scheduledRestart) data.extra = { scheduled_restart: options.scheduledRestart };
  return data;
}
