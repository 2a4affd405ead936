/**
 * Client side of the Raft port's request/response protocol, for admin tools and followers that
 * forward writes to the leader. One connection, many concurrent requests matched by id, each with
 * its own timeout. A lost connection fails every pending request; callers reconnect.
 */
import type { Logger } from '../kv/types.js';
import type { Channel } from './channel.js';
import { RaftNodeUnreachable, RpcFailed, RpcTimedOut } from './errors.js';
import { CLIENT_MAX_FRAME_BYTES, FrameKind, frameKindName } from './frame.js';
import { dial } from './handshake.js';
import { decodeRpcResponse, encodeRpcRequest } from './rpc-codec.js';
import type { RpcClient, RpcPayload } from './types.js';

export interface ConnectRpcOptions {
  password?: string | null;
  /** Connect + handshake timeout, and the default per-request timeout. */
  timeoutMs: number;
  logger?: Logger;
  maxFrameBytes?: number;
  /** Least key-derivation cost accepted from the node (tests of the transport lower it). */
  minKdfLog2N?: number;
}

interface Pending {
  resolve: (body: RpcPayload) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

class TcpRpcClient implements RpcClient {
  private channel: Channel | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedReason: string | null = null;

  constructor(
    private readonly addr: string,
    private readonly defaultTimeoutMs: number,
    private readonly logger: Logger | undefined,
  ) {}

  attach(channel: Channel): void {
    this.channel = channel;
    channel.onClose((info) => {
      this.closedReason = info.reason;
      if (info.violation) this.logger?.warn(`raft node ${this.addr} sent a malformed response: ${info.reason}`);
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new RaftNodeUnreachable(this.addr, `connection lost (${info.reason})`));
        this.pending.delete(id);
      }
    });
  }

  onFrame(kind: FrameKind, payload: Buffer): void {
    if (kind !== FrameKind.RpcResponse) throw new Error(`unexpected ${frameKindName(kind)} frame from a raft node`);
    const { id, ok, body } = decodeRpcResponse(payload);
    const p = this.pending.get(id);
    // A response that arrives after its request timed out is dropped.
    if (p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (ok) p.resolve(body);
    else p.reject(new RpcFailed(this.addr, typeof body.message === 'string' ? body.message : JSON.stringify(body)));
  }

  request(req: RpcPayload, timeoutMs = this.defaultTimeoutMs): Promise<RpcPayload> {
    const channel = this.channel;
    if (channel === null || channel.closed) {
      return Promise.reject(new RaftNodeUnreachable(this.addr, `connection closed (${this.closedReason ?? 'closed'})`));
    }
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffff_ffff ? 1 : this.nextId + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcTimedOut(this.addr, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        channel.send(FrameKind.RpcRequest, encodeRpcRequest(id, req));
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err as Error);
      }
    });
  }

  isOpen(): boolean {
    return this.channel !== null && !this.channel.closed && this.closedReason === null;
  }

  close(): void {
    this.channel?.close('client closed');
  }
}

/** Connect to a node's Raft port as a client. Rejects with RaftNodeUnreachable or RaftAuthFailed. */
export async function connectRpc(addr: string, options: ConnectRpcOptions): Promise<RpcClient> {
  const client = new TcpRpcClient(addr, options.timeoutMs, options.logger);
  const channel = await dial(addr, {
    role: 'client',
    nodeId: '',
    password: options.password ?? null,
    minKdfLog2N: options.minKdfLog2N,
    timeoutMs: options.timeoutMs,
    maxFrameBytes: options.maxFrameBytes ?? CLIENT_MAX_FRAME_BYTES,
    onFrame: (kind, payload) => client.onFrame(kind, payload),
  });
  client.attach(channel);
  options.logger?.debug(`connected to raft node ${addr}${options.password ? ' (authenticated, encrypted)' : ''}`);
  return client;
}
