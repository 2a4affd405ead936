/**
 * Stored values of the cluster keys, in Patroni's JSON shapes (docs/patroni-behaviour.md section 0), and
 * their decoding into the camelCase types of types.ts. Decoding is lenient the way Patroni's is: a
 * member key with garbage still names a member (so it is listed and never mistaken for absent),
 * unknown fields survive a round trip.
 *
 * LSNs are JSON numbers as Patroni writes them. Above 2^53 a number would lose precision, so such
 * positions are written as decimal strings; both forms are read.
 */
import type { ClusterKeys } from './keys.js';
import type {
  ClusterStatus,
  ClusterView,
  FailoverRequest,
  FailoverRequestInput,
  FailsafeTopology,
  Member,
  MemberData,
  MemberRole,
  MemberTags,
  SyncState,
  SyncStateInput,
  TimelineSwitch,
} from './types.js';

type Json = Record<string, unknown>;

const ROLES: readonly MemberRole[] = ['primary', 'replica', 'standby_leader', 'demoted', 'promoted', 'uninitialized'];

/** An LSN as JSON: a number while it is exact, a decimal string past 2^53. */
export function lsnToJson(lsn: bigint): number | string {
  return lsn <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(lsn) : lsn.toString();
}

/** An LSN from JSON (a non-negative integer or a decimal string), or null. */
export function lsnFromJson(value: unknown): bigint | null {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && /^\d+$/.test(value)) return BigInt(value);
  return null;
}

function parseObject(text: string): Json | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : null;
  } catch {
    // Not JSON: the caller treats the key as holding nothing it can read.
    return null;
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const nonEmpty = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null);

const MEMBER_FIELDS = new Set([
  'role', 'state', 'api_url', 'conn_url', 'proxy_url', 'version', 'timeline', 'xlog_location', 'receive_lsn',
  'replay_lsn', 'replication_state', 'tags', 'pending_restart', 'pending_restart_reason', 'pause',
  'checkpoint_after_promote', 'fence', 'watchdog',
]);

export function encodeMember(data: MemberData): string {
  const out: Json = { ...data.extra };
  if (data.connUrl !== null) out.conn_url = data.connUrl;
  if (data.apiUrl !== null) out.api_url = data.apiUrl;
  if (data.proxyUrl) out.proxy_url = data.proxyUrl;
  out.state = data.state;
  out.role = data.role;
  if (data.version !== null) out.version = data.version;
  if (Object.keys(data.tags).length > 0) out.tags = data.tags;
  if (data.pendingRestart) out.pending_restart = true;
  if (data.pendingRestartReason) out.pending_restart_reason = data.pendingRestartReason;
  if (data.pause) out.pause = true;
  if (data.checkpointAfterPromote !== undefined) out.checkpoint_after_promote = data.checkpointAfterPromote;
  if (data.fence) out.fence = data.fence;
  if (data.watchdog) out.watchdog = data.watchdog;
  if (data.xlogLocation !== null) out.xlog_location = lsnToJson(data.xlogLocation);
  if (data.receivedLsn !== null) out.receive_lsn = lsnToJson(data.receivedLsn);
  if (data.replayedLsn !== null) out.replay_lsn = lsnToJson(data.replayedLsn);
  if (data.replicationState !== null) out.replication_state = data.replicationState;
  if (data.timeline !== null) out.timeline = data.timeline;
  return JSON.stringify(out);
}

export function decodeMember(name: string, text: string, keyVersion: number): Member {
  const json = parseObject(text) ?? {};
  const roleText = json.role === 'master' ? 'primary' : json.role;
  const role = ROLES.includes(roleText as MemberRole) ? (roleText as MemberRole) : 'uninitialized';
  const tags = json.tags !== null && typeof json.tags === 'object' && !Array.isArray(json.tags) ? (json.tags as MemberTags) : {};
  const extra: Json = {};
  for (const [k, v] of Object.entries(json)) if (!MEMBER_FIELDS.has(k)) extra[k] = v;
  const member: Member = {
    name,
    keyVersion,
    role,
    state: str(json.state) ?? 'unknown',
    apiUrl: nonEmpty(json.api_url),
    connUrl: nonEmpty(json.conn_url),
    version: str(json.version),
    timeline: int(json.timeline),
    xlogLocation: lsnFromJson(json.xlog_location),
    receivedLsn: lsnFromJson(json.receive_lsn),
    replayedLsn: lsnFromJson(json.replay_lsn),
    replicationState: str(json.replication_state),
    tags,
    pendingRestart: json.pending_restart === true,
  };
  if (nonEmpty(json.proxy_url)) member.proxyUrl = nonEmpty(json.proxy_url);
  if (json.pending_restart_reason && typeof json.pending_restart_reason === 'object') {
    member.pendingRestartReason = json.pending_restart_reason as Json;
  }
  if (json.pause === true) member.pause = true;
  if (typeof json.checkpoint_after_promote === 'boolean') member.checkpointAfterPromote = json.checkpoint_after_promote;
  const fence = nonEmpty(json.fence);
  if (fence) member.fence = fence;
  const watchdog = nonEmpty(json.watchdog);
  if (watchdog) member.watchdog = watchdog;
  if (Object.keys(extra).length > 0) member.extra = extra;
  return member;
}

/** Patroni stores the candidate as `member`; `{}` or '' means "no request". */
export function encodeFailover(request: FailoverRequestInput): string {
  const out: Json = {};
  if (request.leader) out.leader = request.leader;
  if (request.candidate) out.member = request.candidate;
  if (request.scheduledAt) out.scheduled_at = request.scheduledAt;
  return JSON.stringify(out);
}

/** Null when the value requests nothing. Also reads the legacy `leader:candidate` text. */
export function decodeFailover(text: string, keyVersion: number): FailoverRequest | null {
  let leader: string | null;
  let candidate: string | null;
  let scheduled: string | null = null;
  const json = parseObject(text);
  if (json) {
    leader = nonEmpty(json.leader);
    candidate = nonEmpty(json.member);
    scheduled = nonEmpty(json.scheduled_at);
  } else {
    const [l = '', c = ''] = text.split(':', 2);
    leader = l.trim() || null;
    candidate = c.trim() || null;
  }
  if (!leader && !candidate && !scheduled) return null;
  const ms = scheduled === null ? null : Date.parse(scheduled);
  return {
    leader,
    candidate,
    scheduledAt: scheduled === null ? null : { text: scheduled, ms: Number.isNaN(ms) ? null : ms },
    keyVersion,
  };
}

export function encodeHistory(lines: readonly TimelineSwitch[]): string {
  return JSON.stringify(
    lines.map((l) => {
      const row: unknown[] = [l.timeline, lsnToJson(l.lsn), l.reason];
      if (l.timestamp !== null || l.newLeader !== null) row.push(l.timestamp);
      if (l.newLeader !== null) row.push(l.newLeader);
      return row;
    }),
  );
}

/** Rows that do not parse are dropped (Patroni logs and ignores them too). */
export function decodeHistory(text: string): TimelineSwitch[] {
  let rows: unknown;
  try {
    rows = JSON.parse(text);
  } catch {
    // An unreadable history is an empty one: it only decorates GET /history and is rewritten at the next promotion.
    return [];
  }
  if (!Array.isArray(rows)) return [];
  const out: TimelineSwitch[] = [];
  for (const row of rows) {
    if (!Array.isArray(row)) continue;
    const timeline = int(row[0]);
    const lsn = lsnFromJson(row[1]);
    if (timeline === null || lsn === null) continue;
    out.push({ timeline, lsn, reason: str(row[2]) ?? '', timestamp: str(row[3]), newLeader: str(row[4]) });
  }
  return out;
}

export function encodeSyncState(state: SyncStateInput): string {
  const out: Json = { leader: state.leader, sync_standby: state.syncStandbys.length > 0 ? state.syncStandbys.join(',') : null };
  if (state.quorum !== null) out.quorum = state.quorum;
  return JSON.stringify(out);
}

export function decodeSyncState(text: string, keyVersion: number): SyncState {
  const json = parseObject(text) ?? {};
  const standbys = nonEmpty(json.sync_standby);
  return {
    leader: nonEmpty(json.leader),
    syncStandbys: standbys === null ? [] : standbys.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    quorum: int(json.quorum),
    keyVersion,
  };
}

/** What an absent `status` key reads as. */
export function emptyStatus(): ClusterStatus {
  return { lastLsn: null, slots: {}, retainSlots: [] };
}

export function encodeStatus(status: ClusterStatus): string {
  const out: Json = {};
  if (status.lastLsn !== null) out.optime = lsnToJson(status.lastLsn);
  const slots = Object.entries(status.slots);
  if (slots.length > 0) out.slots = Object.fromEntries(slots.map(([k, v]) => [k, lsnToJson(v)]));
  if (status.retainSlots.length > 0) out.retain_slots = status.retainSlots;
  return JSON.stringify(out);
}

export function decodeStatus(text: string): ClusterStatus {
  const json = parseObject(text);
  if (!json) {
    // Patroni's legacy `optime/leader` key held a bare number.
    const lsn = lsnFromJson(text.trim() === '' ? null : Number(text));
    return { lastLsn: lsn, slots: {}, retainSlots: [] };
  }
  const slots: Record<string, bigint> = {};
  if (json.slots && typeof json.slots === 'object') {
    for (const [k, v] of Object.entries(json.slots as Json)) {
      const lsn = lsnFromJson(v);
      if (lsn !== null) slots[k] = lsn;
    }
  }
  const retain = Array.isArray(json.retain_slots) ? json.retain_slots.filter((s): s is string => typeof s === 'string') : [];
  return { lastLsn: lsnFromJson(json.optime), slots, retainSlots: retain };
}

/** The dynamic config is any JSON object; a non-object value reads as empty (Patroni does the same). */
export function decodeConfig(text: string): Record<string, unknown> {
  return parseObject(text) ?? {};
}

/** One stored key as every store reads it: value text and the version compare-and-set works on. */
export interface StoredValue {
  key: string;
  value: string;
  version: number;
}

/**
 * The whole cluster view from the keys under the cluster prefix, the same for every store.
 * `leaderExpiresInMs` is given by stores that know the remaining lease (the memory store).
 */
/** Patroni writes the topology as compact JSON (`{"name":"http://…/patroni"}`). */
export function encodeFailsafe(topology: FailsafeTopology): string {
  return JSON.stringify(topology);
}

/** A JSON object whose values are all strings, else null (Patroni ignores a `/failsafe` holding anything else). */
export function decodeFailsafe(text: string): FailsafeTopology | null {
  const obj = parseObject(text);
  if (!obj) return null;
  const out: FailsafeTopology = {};
  for (const [name, url] of Object.entries(obj)) {
    if (typeof url !== 'string') return null;
    out[name] = url;
  }
  return out;
}

export function decodeClusterView(keys: ClusterKeys, entries: Iterable<StoredValue>, leaderExpiresInMs: number | null = null): ClusterView {
  const byKey = new Map<string, StoredValue>();
  for (const e of entries) byKey.set(e.key, e);
  const leader = byKey.get(keys.leader);
  const config = byKey.get(keys.config);
  const history = byKey.get(keys.history);
  const failover = byKey.get(keys.failover);
  const sync = byKey.get(keys.sync);
  const status = byKey.get(keys.status);
  const failsafe = byKey.get(keys.failsafe);
  return {
    initialize: byKey.get(keys.initialize)?.value ?? null,
    config: config ? { data: decodeConfig(config.value), keyVersion: config.version } : null,
    leader: leader ? { name: leader.value, keyVersion: leader.version, expiresInMs: leaderExpiresInMs } : null,
    members: [...byKey.values()]
      .filter((e) => e.key.startsWith(keys.membersPrefix) && !e.key.slice(keys.membersPrefix.length).includes('/'))
      .map((e) => decodeMember(e.key.slice(keys.membersPrefix.length), e.value, e.version))
      .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)),
    history: history ? { lines: decodeHistory(history.value), keyVersion: history.version } : null,
    failover: failover ? decodeFailover(failover.value, failover.version) : null,
    sync: sync ? decodeSyncState(sync.value, sync.version) : null,
    status: status ? decodeStatus(status.value) : emptyStatus(),
    failsafe: failsafe ? decodeFailsafe(failsafe.value) : null,
  };
}
