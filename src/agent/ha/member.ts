/**
 * What this member publishes in `members/<name>` every cycle (Patroni's touch_member): role,
 * PostgreSQL state, where to reach it, its WAL position and timeline, tags, version.
 */
import type { HactlConfig } from '../../config/index.js';
import type { MemberData, MemberRole } from '../../dcs/index.js';
import { apiUrl, connUrl } from '../settings.js';
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

export function postgresStateName(obs: LocalObservation, action: LongActionName | null): string {
  const during = stateDuring(action);
  if (during) return during;
  switch (obs.state.role) {
    case 'primary':
    case 'replica':
      return 'running';
    case 'starting':
      return 'starting';
    case 'crashed':
      return 'crashed';
    default:
      return 'stopped';
  }
}

export function memberRole(obs: LocalObservation): MemberRole {
  if (obs.state.dataDir !== 'valid') return 'uninitialized';
  if (obs.state.role === 'primary') return 'primary';
  return 'replica';
}

export function memberData(
  local: HactlConfig,
  obs: LocalObservation,
  action: LongActionName | null,
  options: { version: string; paused: boolean },
): MemberData {
  const { state, server } = obs;
  const primary = state.role === 'primary';
  const data: MemberData = {
    role: memberRole(obs),
    state: postgresStateName(obs, action),
    apiUrl: apiUrl(local),
    connUrl: connUrl(local),
    version: options.version,
    timeline: state.timeline,
    xlogLocation: primary ? state.writeLsn : state.replayedLsn,
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
  return data;
}
