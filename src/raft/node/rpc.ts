/**
 * KV requests on the Raft port: clients (and followers forwarding to the leader) send these;
 * replies are `{ok: true, …}` or `{ok: false, error}`. Errors travel as a code + message and are
 * rebuilt into the same error classes on the calling side.
 */
import type { KvCommand, KvEntry, KvResult } from '../kv/types.js';
import { checkClientCommand } from '../kv/command.js';
import type { AdminRequest, MembershipResult, RpcErrorBody, TransferResult } from '../admin/protocol.js';
import type { RpcPayload } from '../transport/types.js';
import { RaftRequestDenied, RaftStopped, RaftStorageError, RaftTimeout, RaftUnavailable } from './errors.js';
import { checkAddr } from './options.js';

export type KvRequest =
  | {
      kind: 'kv';
      op: 'write';
      command: KvCommand;
      /** Absent: the receiving node assigns one of its own sessions. */
      clientId?: string;
      seq?: number;
      timeoutMs?: number;
      /** Set by a follower forwarding to the leader: the receiver must not forward again. */
      forwarded?: boolean;
    }
  | { kind: 'kv'; op: 'read'; key?: string; prefix?: string; linearizable?: boolean; timeoutMs?: number; forwarded?: boolean };

/** Every request the Raft port serves. */
export type RaftRequest = KvRequest | AdminRequest;

export type KvReply =
  | { ok: true; result: KvResult }
  | { ok: true; entry: KvEntry | null }
  | { ok: true; entries: KvEntry[] }
  | { ok: false; error: RpcErrorBody };

/** The leader is elsewhere; `leader` is the hint (null when unknown). */
export class RaftNotLeader extends RaftUnavailable {
  constructor(
    message: string,
    readonly leader: string | null,
  ) {
    super(message);
    this.name = 'RaftNotLeader';
  }
}

export function errorBody(err: unknown): RpcErrorBody {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof RaftNotLeader) return { code: 'not-leader', message, leader: err.leader };
  if (err instanceof RaftTimeout) return { code: 'timeout', message };
  if (err instanceof RaftStorageError) return { code: 'storage', message };
  if (err instanceof RaftStopped) return { code: 'stopped', message };
  if (err instanceof RaftRequestDenied) return { code: 'denied', message };
  if (err instanceof RaftUnavailable) return { code: 'unavailable', message };
  if (err instanceof TypeError || (err instanceof Error && err.name === 'KvCommandError')) return { code: 'bad-request', message };
  return { code: 'internal', message };
}

export function errorFromBody(body: RpcErrorBody): Error {
  switch (body.code) {
    case 'not-leader':
      return new RaftNotLeader(body.message, body.leader ?? null);
    case 'timeout':
      return new RaftTimeout(body.message);
    case 'storage':
      return new RaftStorageError(body.message);
    case 'stopped':
      return new RaftStopped(body.message);
    case 'denied':
    case 'bad-request':
      return new RaftRequestDenied(body.message);
    case 'unavailable':
      return new RaftUnavailable(body.message);
    default:
      return new Error(body.message);
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The reply of a remote request, or its error rebuilt; a malformed reply is an error too. */
export function unwrapReply(reply: Record<string, unknown>): Record<string, unknown> {
  if (reply.ok === true) return reply;
  if (reply.ok === false && isRecord(reply.error) && typeof reply.error.message === 'string') {
    throw errorFromBody(reply.error as unknown as RpcErrorBody);
  }
  throw new Error(`malformed reply: ${JSON.stringify(reply).slice(0, 200)}`);
}

/** Longest a caller may ask a request to wait (a bound, not a default). */
const MAX_REQUEST_TIMEOUT_MS = 300_000;

function optionalTimeout(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RaftRequestDenied(`timeoutMs must be a positive number of milliseconds, got ${JSON.stringify(v)}`);
  return Math.min(v, MAX_REQUEST_TIMEOUT_MS);
}

function addrField(v: unknown, op: string): string {
  if (typeof v !== 'string') throw new RaftRequestDenied(`${op}: addr must be "host:port"`);
  try {
    return checkAddr(v, `${op} address`);
  } catch (err) {
    throw new RaftRequestDenied((err as Error).message);
  }
}

/**
 * The boundary: a request as it arrived on the port, checked field by field into a RaftRequest.
 * Throws RaftRequestDenied naming what is wrong; nothing unchecked reaches the node.
 */
export function decodeRequest(p: RpcPayload): RaftRequest {
  const timeoutMs = optionalTimeout(p.timeoutMs);
  const forwarded = p.forwarded === true;
  if (p.kind === 'kv') {
    if (p.op === 'write') {
      if (!isRecord(p.command)) throw new RaftRequestDenied('write: command must be an object');
      // A known client op with valid fields; never `expire`, which only the leader proposes.
      const command = checkClientCommand(p.command);
      if (p.clientId === undefined && p.seq === undefined) return { kind: 'kv', op: 'write', command, timeoutMs, forwarded };
      if (typeof p.clientId !== 'string' || p.clientId === '' || !Number.isSafeInteger(p.seq) || (p.seq as number) <= 0) {
        throw new RaftRequestDenied('write: clientId must be a non-empty string and seq a positive integer');
      }
      return { kind: 'kv', op: 'write', command, clientId: p.clientId, seq: p.seq as number, timeoutMs, forwarded };
    }
    if (p.op === 'read') {
      const hasKey = typeof p.key === 'string';
      const hasPrefix = typeof p.prefix === 'string';
      if (hasKey === hasPrefix) throw new RaftRequestDenied('read: give exactly one of key or prefix');
      const where = hasKey ? { key: p.key as string } : { prefix: p.prefix as string };
      return { kind: 'kv', op: 'read', ...where, linearizable: p.linearizable !== false, timeoutMs, forwarded };
    }
    throw new RaftRequestDenied(`unknown kv op ${JSON.stringify(p.op)}`);
  }
  if (p.kind === 'admin') {
    switch (p.op) {
      case 'status':
      case 'members':
        return { kind: 'admin', op: p.op };
      case 'add':
      case 'remove':
        return { kind: 'admin', op: p.op, addr: addrField(p.addr, p.op), timeoutMs, forwarded };
      case 'transfer': {
        const none = p.addr === undefined || p.addr === null || p.addr === '';
        return none ? { kind: 'admin', op: 'transfer', timeoutMs, forwarded } : { kind: 'admin', op: 'transfer', addr: addrField(p.addr, 'transfer'), timeoutMs, forwarded };
      }
      case 'join':
        return { kind: 'admin', op: 'join', addr: addrField(p.addr, 'join'), recovering: p.recovering === true, timeoutMs, forwarded };
      default:
        throw new RaftRequestDenied(`unknown admin op ${JSON.stringify(p.op)} (expected status, members, add, remove, transfer or join)`);
    }
  }
  throw new RaftRequestDenied(`unknown request kind ${JSON.stringify(p.kind)}`);
}

/** The result of a forwarded write, from the leader's reply. */
export function writeReply(reply: RpcPayload): KvResult {
  const r = unwrapReply(reply);
  if (!isRecord(r.result) || typeof r.result.ok !== 'boolean') throw new Error(`malformed write reply: ${JSON.stringify(reply).slice(0, 200)}`);
  return r.result as unknown as KvResult;
}

/** The entry (key read) or entries (prefix read) of a forwarded read. */
export function readReply(reply: RpcPayload): KvEntry | null | KvEntry[] {
  const r = unwrapReply(reply);
  if (Array.isArray(r.entries)) return r.entries as KvEntry[];
  if (r.entry === null || isRecord(r.entry)) return (r.entry as KvEntry | null) ?? null;
  throw new Error(`malformed read reply: ${JSON.stringify(reply).slice(0, 200)}`);
}

export function membershipReply(reply: RpcPayload): MembershipResult {
  const r = unwrapReply(reply).result;
  if (!isRecord(r) || typeof r.message !== 'string' || !Array.isArray(r.voters) || !Array.isArray(r.learners)) {
    throw new Error(`malformed membership reply: ${JSON.stringify(reply).slice(0, 200)}`);
  }
  return r as unknown as MembershipResult;
}

export function transferReply(reply: RpcPayload): TransferResult {
  const r = unwrapReply(reply).result;
  if (!isRecord(r) || typeof r.message !== 'string' || typeof r.to !== 'string') throw new Error(`malformed transfer reply: ${JSON.stringify(reply).slice(0, 200)}`);
  return r as unknown as TransferResult;
}
