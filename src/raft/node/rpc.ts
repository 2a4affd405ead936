/**
 * KV requests on the Raft port: clients (and followers forwarding to the leader) send these;
 * replies are `{ok: true, …}` or `{ok: false, error}`. Errors travel as a code + message and are
 * rebuilt into the same error classes on the calling side.
 */
import type { KvCommand, KvEntry, KvResult } from '../kv/types.js';
import type { RpcErrorBody } from '../admin/protocol.js';
import { RaftRequestDenied, RaftStopped, RaftStorageError, RaftTimeout, RaftUnavailable } from './errors.js';

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
