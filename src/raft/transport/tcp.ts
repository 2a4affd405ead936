/**
 * The Raft port over TCP. One listening socket serves both peers (Raft messages, after a handshake
 * naming the sending node) and clients (admin tools, forwarding followers: JSON requests), as
 * pysyncobj does. Outgoing Raft traffic goes over one PeerLink per peer. Whatever arrives on the
 * port, the worst outcome is that one connection is closed with a logged reason.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { decodeMessage, encodeMessage } from '../codec/message.js';
import type { Message, NodeId } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import { describeSocketError, formatAddr, parseAddr } from './address.js';
import { deriveClusterKey, type Hello } from './auth.js';
import { Channel, unexpectedFrame } from './channel.js';
import { ListenFailed } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameKind } from './frame.js';
import { acceptHandshake } from './handshake.js';
import { PeerLink, type PeerLinkStatus } from './peer-link.js';
import { decodeRpcRequest, encodeRpcResponse } from './rpc-codec.js';
import type { RaftTransport, RpcPayload, TransportOptions } from './types.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
/** A connection that has not finished its handshake by then is dropped (slow or idle scanners). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_QUEUED_MESSAGES = 4096;
const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** Bounds file descriptors a flood of connections can take from the agent. */
const MAX_CONNECTIONS = 1024;

export class TcpTransport implements RaftTransport {
  private readonly logger: Logger;
  private readonly maxFrameBytes: number;
  private readonly key: Promise<Buffer | null>;
  private server: Server | null = null;
  private boundAddress: string | null = null;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly incoming = new Set<Channel>();
  /** The live incoming connection of each peer: a peer that reconnects replaces its half-dead old one. */
  private readonly peerConnections = new Map<NodeId, Channel>();
  private messageHandler: (msg: Message) => void = () => {};
  private requestHandler: ((req: RpcPayload) => Promise<RpcPayload>) | null = null;
  private closed = false;

  constructor(private readonly options: TransportOptions) {
    this.logger = options.logger;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const password = options.password ?? null;
    // Start the (deliberately slow) key derivation now so the first connection does not wait for it.
    this.key = password ? deriveClusterKey(password) : Promise.resolve(null);
    this.key.catch(() => {});
  }

  /** The address actually bound ("127.0.0.1:40123" when listening on port 0), once listening. */
  get address(): string | null {
    return this.boundAddress;
  }

  async listen(): Promise<void> {
    const addr = this.options.bindAddr ?? this.options.selfAddr;
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseAddr(addr));
    } catch (err) {
      throw new ListenFailed(addr, (err as Error).message);
    }
    const key = await this.key;
    const server = createServer((socket) => this.accept(socket, key));
    server.maxConnections = MAX_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new ListenFailed(addr, describeSocketError(err))));
      server.listen({ host, port }, () => resolve());
    });
    server.on('error', (err) => this.logger.error(`raft port ${addr}: ${describeSocketError(err)}`));
    this.server = server;
    const bound = server.address();
    this.boundAddress = bound !== null && typeof bound === 'object' ? formatAddr(bound.address, bound.port) : addr;
    if (key === null) {
      this.logger.warn(
        `raft port ${this.boundAddress} has no password: anyone who can reach it can take part in Raft and send admin requests; set raft.password`,
      );
    }
    this.logger.info(`raft transport listening on ${this.boundAddress}${key ? ' (authenticated, encrypted)' : ''}`);
  }

  send(msg: Message): void {
    if (this.closed || msg.to === this.options.selfAddr) return;
    let payload: Buffer;
    try {
      payload = encodeMessage(msg);
    } catch (err) {
      this.logger.error(`cannot encode ${msg.type} to ${msg.to}: ${(err as Error).message}`);
      return;
    }
    let link = this.links.get(msg.to);
    if (link === undefined) {
      link = new PeerLink({
        peer: msg.to,
        selfAddr: this.options.selfAddr,
        key: this.key,
        maxFrameBytes: this.maxFrameBytes,
        connectTimeoutMs: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        maxQueuedMessages: this.options.maxQueuedMessages ?? DEFAULT_MAX_QUEUED_MESSAGES,
        maxQueuedBytes: DEFAULT_MAX_QUEUED_BYTES,
        logger: this.logger,
        random: Math.random,
      });
      this.links.set(msg.to, link);
    }
    link.enqueue(payload);
  }

  onMessage(handler: (msg: Message) => void): void {
    this.messageHandler = handler;
  }

  onRequest(handler: (req: RpcPayload) => Promise<RpcPayload>): void {
    this.requestHandler = handler;
  }

  disconnect(peer: string): void {
    this.links.get(peer)?.close();
    this.links.delete(peer);
  }

  /** Per-peer state of the outgoing links (for the admin status: partner_node_status_server_<addr>). */
  peerStatus(): Map<NodeId, PeerLinkStatus> {
    const out = new Map<NodeId, PeerLinkStatus>();
    for (const [peer, link] of this.links) out.set(peer, link.status());
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    for (const ch of this.incoming) ch.close('node shutting down');
    this.incoming.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket, key: Buffer | null): void {
    const remote = socket.remoteAddress ? formatAddr(socket.remoteAddress, socket.remotePort ?? 0) : 'unknown';
    if (this.closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    const ch = new Channel(socket, remote);
    this.incoming.add(ch);
    ch.onClose((info) => {
      this.incoming.delete(ch);
      if (info.violation) this.logger.warn(`closed raft connection from ${remote}: ${info.reason}`);
      else this.logger.debug(`raft connection from ${remote} closed: ${info.reason}`);
    });
    acceptHandshake(
      ch,
      { key, timeoutMs: HANDSHAKE_TIMEOUT_MS, maxFrameBytes: this.maxFrameBytes, logger: this.logger },
      (hello) => this.established(ch, hello),
    );
  }

  private established(ch: Channel, hello: Hello): void {
    if (hello.role === 'peer') {
      const previous = this.peerConnections.get(hello.nodeId);
      if (previous !== undefined && previous !== ch) previous.close(`raft peer ${hello.nodeId} reconnected`);
      this.peerConnections.set(hello.nodeId, ch);
      ch.onClose(() => {
        if (this.peerConnections.get(hello.nodeId) === ch) this.peerConnections.delete(hello.nodeId);
      });
      this.logger.debug(`raft peer ${hello.nodeId} connected from ${ch.remote}`);
    }
    let misaddressedWarned = false;
    ch.onFrame = (kind, payload) => {
      if (kind === FrameKind.RaftMessage) {
        if (hello.role !== 'peer') throw new Error('raft message on a client connection');
        const msg = decodeMessage(payload);
        // The handshake (authenticated when a password is set) fixes who is on the other end.
        if (msg.from !== hello.nodeId) throw new Error(`raft message claims to be from ${msg.from}, but the connection is from ${hello.nodeId}`);
        if (msg.to !== this.options.selfAddr) {
          if (!misaddressedWarned) {
            misaddressedWarned = true;
            this.logger.warn(`dropping raft messages from ${msg.from} addressed to ${msg.to}: this node is ${this.options.selfAddr} (check self_addr and partner_addrs)`);
          }
          return;
        }
        this.deliver(msg);
      } else if (kind === FrameKind.RpcRequest) {
        const { id, body } = decodeRpcRequest(payload);
        void this.serveRequest(ch, id, body);
      } else {
        throw unexpectedFrame(kind, 'after the handshake');
      }
    };
  }

  private deliver(msg: Message): void {
    try {
      this.messageHandler(msg);
    } catch (err) {
      // A failing handler is a bug in the node, not the peer's fault: keep the connection.
      this.logger.error(`raft message handler failed on ${msg.type} from ${msg.from}: ${(err as Error).stack ?? String(err)}`);
    }
  }

  private async serveRequest(ch: Channel, id: number, body: RpcPayload): Promise<void> {
    let ok = true;
    let result: RpcPayload;
    try {
      if (this.requestHandler === null) throw new Error('this node does not serve requests yet');
      result = await this.requestHandler(body);
    } catch (err) {
      ok = false;
      result = { message: err instanceof Error ? err.message : String(err) };
    }
    if (ch.closed) return;
    let response: Buffer;
    try {
      response = encodeRpcResponse(id, ok, result);
    } catch (err) {
      response = encodeRpcResponse(id, false, { message: `response not serialisable: ${(err as Error).message}` });
    }
    // The client would close the connection on an oversize frame; tell it why instead.
    if (response.length + 64 > this.maxFrameBytes) {
      response = encodeRpcResponse(id, false, { message: `response of ${response.length} bytes exceeds the frame limit` });
    }
    ch.send(FrameKind.RpcResponse, response);
  }
}
