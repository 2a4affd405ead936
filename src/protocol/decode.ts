/**
 * The one decoder of the REST bodies hactl reads (the CLI reading an agent, an agent reading its
 * peers' `/patroni`): checked once here, at the boundary, and trusted as their types afterwards.
 * Lenient where Patroni's own bodies differ (`master` for the leader, LSNs sent as digit strings
 * by some proxies) and strict about what callers rely on (names, roles, lists).
 */
import type { ClusterJson, FailoverCandidatesJson, HistoryRow, MemberStatus } from './bodies.js';
import { InvalidAgentResponse } from './errors.js';

export function decodeJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const snippet = text.length > 80 ? `${text.slice(0, 80)}…` : text;
    throw new InvalidAgentResponse(source, `not JSON: ${JSON.stringify(snippet)}`);
  }
}

export function decodeObject(value: unknown, source: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidAgentResponse(source, 'expected a JSON object');
  return value as Record<string, unknown>;
}

/** `GET /cluster`. */
export function decodeClusterJson(value: unknown, source: string): ClusterJson {
  const v = decodeObject(value, source);
  if (!Array.isArray(v.members)) throw new InvalidAgentResponse(source, '/cluster has no "members" list');
  for (const m of v.members as unknown[]) {
    const member = m as Record<string, unknown> | null;
    if (typeof member !== 'object' || member === null || typeof member.name !== 'string' || typeof member.role !== 'string') {
      throw new InvalidAgentResponse(source, '/cluster member without name or role');
    }
    // Patroni ≤ 3 says `master`; show it as the leader.
    if (member.role === 'master') member.role = 'leader';
    if (typeof member.state !== 'string') member.state = '';
  }
  if (typeof v.scope !== 'string') v.scope = '';
  if (v.system_identifier !== undefined && (typeof v.system_identifier !== 'string' || v.system_identifier === '')) delete v.system_identifier;
  return v as unknown as ClusterJson;
}

/** `GET /patroni` and the health checks (a 503 body is still the member's status). */
export function decodeMemberStatus(value: unknown, source: string): MemberStatus {
  const v = decodeObject(value, source);
  if (typeof v.state !== 'string' && typeof v.role !== 'string') throw new InvalidAgentResponse(source, '/patroni has neither state nor role');
  // Patroni ≤ 3.0 peers say `master`.
  if (v.role === 'master') v.role = 'primary';
  if (typeof v.state !== 'string') v.state = 'unknown';
  if (typeof v.role !== 'string') v.role = 'uninitialized';
  if (v.xlog !== undefined) {
    const xlog = typeof v.xlog === 'object' && v.xlog !== null ? (v.xlog as Record<string, unknown>) : null;
    // Positions become numbers; an xlog with a position we cannot read is treated as absent.
    const readable = xlog !== null && ['location', 'received_location', 'replayed_location'].every((f) => !(f in xlog) || decodeLsnField(xlog, f));
    if (readable) v.xlog = xlog;
    else delete v.xlog;
  }
  if (v.timeline !== undefined && typeof v.timeline !== 'number') delete v.timeline;
  if (v.tags !== undefined && (typeof v.tags !== 'object' || v.tags === null || Array.isArray(v.tags))) delete v.tags;
  if (v.watchdog_failed !== undefined && typeof v.watchdog_failed !== 'boolean') delete v.watchdog_failed;
  return v as unknown as MemberStatus;
}

/** `GET /failover/candidates` (hactl only). */
export function decodeFailoverCandidates(value: unknown, source: string): FailoverCandidatesJson {
  const v = decodeObject(value, source);
  if (!Array.isArray(v.members) || typeof v.summary !== 'string') throw new InvalidAgentResponse(source, '/failover/candidates has no "members" list or "summary"');
  for (const m of v.members as unknown[]) {
    const member = m as Record<string, unknown> | null;
    if (typeof member !== 'object' || member === null || typeof member.name !== 'string' || typeof member.verdict !== 'string') {
      throw new InvalidAgentResponse(source, '/failover/candidates member without name or verdict');
    }
    if (!Array.isArray(member.log)) member.log = [];
  }
  if (!Array.isArray(v.racers)) v.racers = [];
  return v as unknown as FailoverCandidatesJson;
}

/** `GET /history`. */
export function decodeHistory(value: unknown, source: string): HistoryRow[] {
  if (!Array.isArray(value) || !value.every((row) => Array.isArray(row))) throw new InvalidAgentResponse(source, '/history is not a list of rows');
  return value as HistoryRow[];
}

/**
 * A WAL position in bytes (a non-negative integer, or its decimal text, which peers reading
 * `/patroni` have always accepted),
 * rewritten in place as a number; null stays null (a replica that has not received anything yet).
 */
function decodeLsnField(xlog: Record<string, unknown>, field: string): boolean {
  const v = xlog[field];
  if (v === null) return field !== 'location';
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return false;
  xlog[field] = Number(v);
  return true;
}
