/**
 * Builders for decide() inputs: a three-member cluster (srv1 leader, srv2 and srv3 replicas) on
 * timeline 1 with Patroni's default timing, which each scenario bends where it matters.
 */
import type { ClusterView, FailoverRequest, Member } from '../../../src/dcs/index.js';
import type { DecideInput, HaConfig, HaSelfState, LocalPostgresState, MemberHealth } from '../../../src/agent/ha/index.js';

export const SYSID = '7301234567890123456';
/** Where the primary is (status key) and where healthy replicas are. */
export const PRIMARY_LSN = 0x3000_0000n;
export const MONO_NOW = 1_000_000;
export const WALL_NOW = Date.parse('2031-05-01T10:00:00Z');

export function member(name: string, overrides: Partial<Member> = {}): Member {
  return {
    name,
    keyVersion: 10,
    role: 'replica',
    state: 'running',
    apiUrl: `http://${name}:8008/patroni`,
    connUrl: `postgres://${name}:5432/postgres`,
    version: '0.1.0',
    timeline: 1,
    xlogLocation: PRIMARY_LSN,
    receivedLsn: PRIMARY_LSN,
    replayedLsn: PRIMARY_LSN,
    replicationState: 'streaming',
    tags: {},
    pendingRestart: false,
    ...overrides,
  };
}

export function view(overrides: Partial<ClusterView> & { leaderName?: string | null } = {}): ClusterView {
  const { leaderName = 'srv1', ...rest } = overrides;
  return {
    initialize: SYSID,
    config: { data: { ttl: 30, loop_wait: 10 }, keyVersion: 2 },
    leader: leaderName === null ? null : { name: leaderName, keyVersion: 50, expiresInMs: 25_000 },
    members: [member('srv1', { role: 'primary' }), member('srv2'), member('srv3')],
    history: null,
    failover: null,
    sync: null,
    status: { lastLsn: PRIMARY_LSN, slots: {}, retainSlots: [] },
    ...rest,
  };
}

export function failover(overrides: Partial<FailoverRequest> = {}): FailoverRequest {
  return { leader: null, candidate: null, scheduledAt: null, keyVersion: 77, ...overrides };
}

export function replica(overrides: Partial<LocalPostgresState> = {}): LocalPostgresState {
  return {
    role: 'replica',
    dataDir: 'valid',
    systemIdentifier: SYSID,
    timeline: 1,
    writeLsn: null,
    receivedLsn: PRIMARY_LSN,
    replayedLsn: PRIMARY_LSN,
    receivingFrom: 'srv1',
    wasPrimary: false,
    pendingRestart: false,
    rewindCapable: true,
    ...overrides,
  };
}

export function primary(overrides: Partial<LocalPostgresState> = {}): LocalPostgresState {
  return replica({ role: 'primary', writeLsn: PRIMARY_LSN, receivedLsn: null, replayedLsn: null, receivingFrom: null, wasPrimary: true, ...overrides });
}

export function config(overrides: Partial<HaConfig> = {}): HaConfig {
  return {
    name: 'srv2',
    tags: {},
    ttlMs: 30_000,
    loopWaitMs: 10_000,
    retryTimeoutMs: 10_000,
    maximumLagOnFailoverBytes: 1_048_576n,
    primaryStartTimeoutMs: 300_000,
    checkTimeline: false,
    usePgRewind: false,
    removeDataDirectoryOnRewindFailure: false,
    removeDataDirectoryOnDivergedTimelines: false,
    pause: false,
    canBootstrap: true,
    demoteTimeMs: 2_000,
    ...overrides,
  };
}

export function health(name: string, overrides: Partial<MemberHealth> = {}): MemberHealth {
  return {
    name,
    reachable: true,
    role: 'replica',
    state: 'running',
    walLsn: PRIMARY_LSN,
    timeline: 1,
    nofailover: false,
    failoverPriority: 1,
    watchdogFailed: false,
    ...overrides,
  };
}

export function self(overrides: Partial<HaSelfState> = {}): HaSelfState {
  return { leaseDeadlineMonoMs: null, longAction: null, startingSinceMonoMs: null, divergence: null, rewindFailed: false, ...overrides };
}

export interface InputOverrides {
  view?: ClusterView | null;
  dcsOk?: boolean;
  local?: LocalPostgresState;
  config?: Partial<HaConfig>;
  memberHealth?: MemberHealth[];
  self?: Partial<HaSelfState>;
  nowMs?: number;
  monoNowMs?: number;
}

/** srv2, a healthy streaming replica of leader srv1, unless overridden. */
export function input(o: InputOverrides = {}): DecideInput {
  return {
    view: o.view === undefined ? view() : o.view,
    dcsOk: o.dcsOk ?? true,
    local: o.local ?? replica(),
    config: config(o.config),
    memberHealth: o.memberHealth ?? [],
    nowMs: o.nowMs ?? WALL_NOW,
    monoNowMs: o.monoNowMs ?? MONO_NOW,
    self: self(o.self),
  };
}

/** The view as srv1 (the leader) sees it, with srv1's own config name. */
export function asLeader(o: InputOverrides = {}): DecideInput {
  return input({ local: primary(), ...o, config: { name: 'srv1', ...o.config } });
}
