/**
 * Payloads of RPC frames: request = [u32 id][JSON object]; response = [u32 id][u8 status][JSON
 * object], status 0 = the handler's result, 1 = { message } of a failed handler. JSON keeps the
 * admin protocol readable and debuggable; it is never on the Raft replication hot path.
 */
import { CodecError } from '../codec/binary.js';
import type { RpcPayload } from './types.js';

export interface RpcRequestFrame {
  id: number;
  body: RpcPayload;
}

export interface RpcResponseFrame {
  id: number;
  ok: boolean;
  body: RpcPayload;
}

function parseObject(buf: Buffer, what: string): RpcPayload {
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new CodecError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CodecError(`${what} must be a JSON object`);
  }
  return value as RpcPayload;
}

export function encodeRpcRequest(id: number, body: RpcPayload): Buffer {
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  const out = Buffer.allocUnsafe(4 + json.length);
  out.writeUInt32BE(id, 0);
  json.copy(out, 4);
  return out;
}

export function decodeRpcRequest(buf: Buffer): RpcRequestFrame {
  if (buf.length < 4) throw new CodecError(`rpc request of ${buf.length} bytes is too short`);
  return { id: buf.readUInt32BE(0), body: parseObject(buf.subarray(4), 'rpc request') };
}

export function encodeRpcResponse(id: number, ok: boolean, body: RpcPayload): Buffer {
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  const out = Buffer.allocUnsafe(5 + json.length);
  out.writeUInt32BE(id, 0);
  out[4] = ok ? 0 : 1;
  json.copy(out, 5);
  return out;
}

export function decodeRpcResponse(buf: Buffer): RpcResponseFrame {
  if (buf.length < 5) throw new CodecError(`rpc response of ${buf.length} bytes is too short`);
  const status = buf[4]!;
  if (status > 1) throw new CodecError(`unknown rpc response status ${status}`);
  return { id: buf.readUInt32BE(0), ok: status === 0, body: parseObject(buf.subarray(5), 'rpc response') };
}
