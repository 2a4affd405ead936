/**
 * Requests arriving on the Raft port (clients, admin tools, followers forwarding to the leader):
 * checked at the boundary (rpc.ts decodeRequest), then handed to the node through the narrow
 * interfaces below. Failures go back as `{ok: false, error}` with a code, never as a crash of the
 * connection.
 */
import { handleAdminRequest, type AdminTarget } from '../admin/server.js';
import type { KvCommand, KvEntry, KvResult } from '../kv/types.js';
import type { RpcPayload } from '../transport/types.js';
import { decodeRequest, errorBody, type KvRequest } from './rpc.js';

export type ReadQuery = { key: string } | { prefix: string };

/** What a node offers KV clients over the port; RaftNode implements it. */
export interface KvTarget {
  readonly requestTimeoutMs: number;
  now(): number;
  write(command: KvCommand, opts: { timeoutMs?: number }): Promise<KvResult>;
  submitWrite(clientId: string, seq: number, command: KvCommand, deadline: number, forwarded: boolean): Promise<KvResult>;
  readLocal(query: ReadQuery): KvEntry | null | KvEntry[];
  submitRead(query: ReadQuery, deadline: number, forwarded: boolean): Promise<KvEntry | null | KvEntry[]>;
}

export type RequestTarget = KvTarget & AdminTarget;

export async function handleRequest(node: RequestTarget, payload: RpcPayload): Promise<RpcPayload> {
  try {
    const req = decodeRequest(payload);
    if (req.kind === 'admin') return (await handleAdminRequest(node, req)) as unknown as RpcPayload;
    return await handleKvRequest(node, req);
  } catch (err) {
    return { ok: false, error: errorBody(err) };
  }
}

async function handleKvRequest(node: KvTarget, req: KvRequest): Promise<RpcPayload> {
  const timeoutMs = req.timeoutMs ?? node.requestTimeoutMs;
  const deadline = node.now() + timeoutMs;
  const forwarded = req.forwarded === true;
  if (req.op === 'write') {
    if (req.clientId === undefined || req.seq === undefined) return { ok: true, result: await node.write(req.command, { timeoutMs }) };
    return { ok: true, result: await node.submitWrite(req.clientId, req.seq, req.command, deadline, forwarded) };
  }
  const query: ReadQuery = req.key !== undefined ? { key: req.key } : { prefix: req.prefix! };
  const value = req.linearizable === false ? node.readLocal(query) : await node.submitRead(query, deadline, forwarded);
  return req.key !== undefined ? { ok: true, entry: value } : { ok: true, entries: value };
}
