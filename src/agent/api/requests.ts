/**
 * Validation of action request bodies, in Patroni's order and with its texts and codes, so a
 * client sees the same refusal from hactl as from Patroni. Pure: the caller passes the cluster
 * view and the clock; what needs I/O (asking candidates, writing keys) is left to the agent.
 */
import type { ClusterView } from '../../dcs/index.js';
import { configData, isSyncListed, synchronousMode } from './health.js';
import { ApiError } from './types.js';
import type { RestartRoleFilter } from '../../protocol/index.js';
import type { ReinitializeRequest, RestartRequest, SwitchoverRequest } from './types.js';
import { parseBool, parseSchedule, parseSeconds, postgresVersionToInt } from './units.js';

function optionalName(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw new ApiError(400, 'leader and candidate must be member names (strings)');
  return value;
}

function isPaused(view: ClusterView | null, pausedFallback: boolean): boolean {
  return view ? parseBool(configData(view).pause) === true : pausedFallback;
}

/**
 * POST /switchover and /failover. Returns the request to hand to the agent, or throws `ApiError`
 * with Patroni's answer (400 shape/schedule, 412 view-based precondition).
 */
export function validateSwitchover(
  endpoint: 'switchover' | 'failover',
  body: Record<string, unknown>,
  view: ClusterView | null,
  nowMs: number,
  pausedFallback = false,
): SwitchoverRequest {
  const leader = optionalName(body.leader ?? body.primary);
  const candidate = optionalName(body.candidate ?? body.member);
  const scheduledText = body.scheduled_at;
  const paused = isPaused(view, pausedFallback);

  if (endpoint === 'failover' && !candidate) throw new ApiError(400, 'Failover could be performed only to a specific candidate');
  if (endpoint === 'switchover' && !leader) throw new ApiError(400, 'Switchover could be performed only from a specific leader');

  let scheduledAt: SwitchoverRequest['scheduledAt'] = null;
  if (scheduledText !== undefined && scheduledText !== null && scheduledText !== '') {
    if (endpoint === 'failover') throw new ApiError(400, "Failover can't be scheduled");
    if (paused) throw new ApiError(400, "Can't schedule switchover in the paused state");
    const parsed = parseSchedule(scheduledText, endpoint, nowMs);
    if (!parsed.ok) throw new ApiError(parsed.status, parsed.text);
    scheduledAt = { text: parsed.text, ms: parsed.ms };
  }
  if (paused && !candidate) throw new ApiError(400, 'Switchover is possible only to a specific candidate in a paused state');

  // A failover naming the leader is a switchover (Patroni logs a warning and does the same).
  const action = endpoint === 'failover' && leader ? 'switchover' : endpoint;
  if (leader === candidate) throw new ApiError(400, 'Switchover target and source are the same');

  let membersToCheck: string[] = [];
  if (!scheduledAt) {
    if (!view) throw new ApiError(503, 'DCS is not accessible');
    membersToCheck = failoverCandidates(view, leader, candidate, action);
  }
  return { action, leader, candidate, scheduledAt, membersToCheck };
}

/** The view-based part of Patroni's is_failover_possible: 412 with its reason, else whom to ask. */
function failoverCandidates(
  view: ClusterView,
  leader: string | null,
  candidate: string | null,
  action: 'switchover' | 'failover',
): string[] {
  const mode = synchronousMode(view);
  const currentLeader = view.leader?.name ?? null;
  if (leader && currentLeader !== leader) throw new ApiError(412, 'leader name does not match');
  if (candidate) {
    if (action === 'switchover' && mode === 'on' && !isSyncListed(view, candidate)) {
      throw new ApiError(412, 'candidate name does not match with sync_standby');
    }
    if (!view.members.some((m) => m.name === candidate)) throw new ApiError(412, 'candidate does not exists');
    return [candidate];
  }
  if (mode === 'on') {
    const sync = view.members.filter((m) => isSyncListed(view, m.name)).map((m) => m.name);
    if (sync.length === 0) throw new ApiError(412, `${action} is not possible: can not find sync_standby`);
    return sync;
  }
  const others = view.members.filter((m) => !currentLeader || (m.name !== currentLeader && m.apiUrl)).map((m) => m.name);
  if (others.length === 0) throw new ApiError(412, `${action} is not possible: cluster does not have members except leader`);
  return others;
}

const ROLES: Record<string, RestartRoleFilter> = {
  primary: 'primary',
  master: 'primary',
  standby_leader: 'standby_leader',
  replica: 'replica',
};

/** POST /restart: keys checked in the order given, the first bad one answers (as Patroni). */
export function validateRestart(
  body: Record<string, unknown>,
  view: ClusterView | null,
  nowMs: number,
  pausedFallback = false,
): RestartRequest {
  if (isPaused(view, pausedFallback) && 'schedule' in body) {
    throw new ApiError(500, "Can't schedule restart in the paused state");
  }
  const req: RestartRequest = {
    restartPending: null,
    role: null,
    postgresVersion: null,
    postgresVersionNum: null,
    timeoutSeconds: null,
    schedule: null,
  };
  for (const [key, value] of Object.entries(body)) {
    if (key === 'schedule') {
      const parsed = parseSchedule(value, 'restart', nowMs);
      if (!parsed.ok) throw new ApiError(parsed.status, parsed.text);
      req.schedule = { text: parsed.text, ms: parsed.ms };
    } else if (key === 'role') {
      const role = typeof value === 'string' ? ROLES[value] : undefined;
      if (!role) throw new ApiError(400, 'PostgreSQL role should be either primary, standby_leader, or replica');
      req.role = role;
    } else if (key === 'postgres_version') {
      const text = typeof value === 'number' ? String(value) : value;
      if (typeof text !== 'string') throw new ApiError(400, `Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: ${String(value)}`);
      try {
        req.postgresVersionNum = postgresVersionToInt(text);
      } catch (error) {
        throw new ApiError(400, (error as Error).message);
      }
      req.postgresVersion = text;
    } else if (key === 'timeout') {
      const seconds = parseSeconds(value);
      if (seconds === null || seconds <= 0) throw new ApiError(400, 'Timeout should be a positive number of seconds');
      req.timeoutSeconds = seconds;
    } else if (key === 'restart_pending') {
      req.restartPending = parseBool(value) ?? Boolean(value);
    } else {
      throw new ApiError(400, `Unknown filter for the scheduled restart: ${key}`);
    }
  }
  return req;
}

/** POST /reinitialize: `{force, from_leader}`, both optional (`from-leader` accepted: Patroni's docs spell it so). */
export function parseReinitialize(body: Record<string, unknown>): ReinitializeRequest {
  return {
    force: parseBool(body.force) === true,
    fromLeader: parseBool(body.from_leader ?? body['from-leader']) === true,
  };
}
