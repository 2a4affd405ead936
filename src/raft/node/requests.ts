/**
 * Requests arriving on the Raft port (clients, admin tools, followers forwarding to the leader):
 * validated here at the boundary, then handed to the node. Failures go back as `{ok: false, error}`
 * with a code, never as a crash of the connection.
 */
import type { RaftNode } from '../node.js';
import type { KvCommand } from '../kv/types.js';
import type { RpcPayload } from '../transport/types.js';
import { handleAdminRequest } from '../admin/server.js';
import { errorBody, isRecord } from './rpc.js';
import { RaftRequestDenied } from './errors.js';

export async function handleRequest(node: RaftNode, req: RpcPayload): Promise<RpcPayload> {
  try {
    if (req.kind === 'admin') return await handleAdminRequest(node, req);
    if (req.kind === 'kv') return await handleKvRequest(node, req);
    throw new RaftRequestDenied(`unknown request kind ${JSON.stringify(req.kind)}`);
  } catch (err) {
    return { ok: false, error: errorBody(err) };
  }
}

async function handleKvRequest(node: RaftNode, req: RpcPayload): Promise<RpcPayload> {
  const timeoutMs = typeof req.timeoutMs === 'number' && req.timeoutMs > 0 ? Math.min(req.timeoutMs, 120_000) : node.options.requestTimeoutMs;
  const deadline = node.handlerNow() + timeoutMs;
  const forwarded = req.forwarded === true;
  if (req.op === 'write') {
    if (!isRecord(req.command)) throw new RaftRequestDenied('write: command must be an object');
    const command = req.command as unknown as KvCommand;
    if (req.clientId === undefined && req.seq === undefined) {
      return { ok: true, result: await node.write(command, { timeoutMs }) };
    }
    if (typeof req.clientId !== 'string' || req.clientId === '' || !Number.isSafeInteger(req.seq) || (req.seq as number) <= 0) {
      throw new RaftRequestDenied('write: clientId must be a non-empty string and seq a positive integer');
    }
    return { ok: true, result: await node.submitWrite(req.clientId, req.seq as number, command, deadline, forwarded) };
  }
  if (req.op === 'read') {
    const hasKey = typeof req.key === 'string';
    const hasPrefix = typeof req.prefix === 'string';
    if (hasKey === hasPrefix) throw new RaftRequestDenied('read: give exactly one of key or prefix');
    const query = hasKey ? { key: req.key as string } : { prefix: req.prefix as string };
    const value = req.linearizable === false ? node.readLocal(query) : await node.submitRead(query, deadline, forwarded);
    return hasKey ? { ok: true, entry: value } : { ok: true, entries: value };
  }
  throw new RaftRequestDenied(`unknown kv op ${JSON.stringify(req.op)}`);
}
