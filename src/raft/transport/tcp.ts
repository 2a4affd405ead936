/**
 * The Raft port over TCP. One listening socket serves both peers (Raft messages, after a handshake
 * naming the sending node) and clients (admin tools, forwarding followers: JSON requests), as
 * pysyncobj does. Outgoing Raft traffic goes over one PeerLink per peer. Whatever arrives on the
 * port, the worst outcome is that one connection is closed with a logged reason: admission.ts
 * bounds the connections still in the handshake (per address too) and a handshake lasts at most
 * HANDSHAKE_TIMEOUT_MS; client connections carry frames of at most ~1 MiB; rpc-server.ts bounds
 * the requests in flight per connection and stops reading while answers are backed up.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { decodeMessage, encodeMessage } from '../codec/message.js';
import type { Message, NodeId } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import { describeSocketError, formatAddr, parseAddr } from './address.js';
import { AdmissionControl } from './admission.js';
import { clusterSalt, deriveClusterKey, KDF_LOG2_N, type Hello, type KdfParams } from './auth.js';
import { Channel, unexpectedFrame } from './channel.js';
import { ListenFailed } from './errors.js';
import { CLIENT_MAX_FRAME_BYTES, DEFAULT_MAX_FRAME_BYTES, FrameKind } from './frame.js';
import { acceptHandshake } from './handshake.js';
import { PeerLink, type PeerLinkStatus } from './peer-link.js';
import { decodeRpcRequest } from './rpc-codec.js';
import { RpcServer } from './rpc-server.js';
import type { RaftTransport, RpcPayload, TransportOptions } from './types.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
/** A peer link with messages out and nothing back for this long is redialled (peer-link.ts). */
export const DEFAULT_PEER_SILENCE_MS = 3000;
/** A connection that has not proven the password by then is dropped (slow or idle scanners). */
export const HANDSHAKE_TIMEOUT_MS = 2000;
const DEFAULT_MAX_QUEUED_MESSAGES = 4096;
const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** Bounds file descriptors a flood of connections can take from the agent. */
const MAX_CONNECTIONS = 1024;
/** One warning per this long when connections are refused, with the count. */
const REFUSAL_REPORT_MS = 10_000;

export class TcpTransport implements RaftTransport {
  private readonly logger: Logger;
  private readonly maxFrameBytes: number;
  private readonly kdf: KdfParams;
  private readonly key: Promise<Buffer | null>;
  private readonly admission = new AdmissionControl();
  private lastRefusalReport = 0;
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
    this.kdf = { salt: clusterSalt(options.clusterName ?? null), log2N: options.kdfLog2N ?? KDF_LOG2_N };
    // Start the (deliberately slow) key derivation now so the first connection does not wait for it.
    this.key = password ? deriveClusterKey(password, this.kdf) : Promise.resolve(null);
    // listen() awaits it and reports a failure; this only keeps it from being an unhandled rejection.
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
      // A deep accept queue: a flood of connects is shed by admission control, not by the kernel
      // dropping SYNs (which would also delay the re-dial of a member).
      server.listen({ host, port, backlog: 4096 }, () => resolve());
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
    if (key) this.logger.info(`raft transport listening on ${this.boundAddress} (authenticated, encrypted)`);
    // Allowed only on purpose (raft.allow_unauthenticated), but said at every start.
    else this.logger.warn(`raft transport listening on ${this.boundAddress} without a password: anyone who reaches it can vote, write and expire keys`);
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
        password: this.options.password ?? null,
        minKdfLog2N: this.options.kdfLog2N,
        maxFrameBytes: this.maxFrameBytes,
        connectTimeoutMs: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        maxQueuedMessages: this.options.maxQueuedMessages ?? DEFAULT_MAX_QUEUED_MESSAGES,
        maxQueuedBytes: DEFAULT_MAX_QUEUED_BYTES,
        silenceMs: this.options.peerSilenceMs ?? DEFAULT_PEER_SILENCE_MS,
        logger: this.logger,
        random: Math.random,
        now: () => performance.now(),
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
    const admitted = this.admission.admit(socket.remoteAddress ?? 'unknown');
    if (!admitted.ok) {
      socket.destroy();
      this.reportRefusals(admitted.reason);
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    const ch = new Channel(socket, remote);
    this.incoming.add(ch);
    ch.onClose((info) => {
      admitted.release();
      this.incoming.delete(ch);
      if (info.violation) this.logger.warn(`closed raft connection from ${remote}: ${info.reason}`);
      else this.logger.debug(`raft connection from ${remote} closed: ${info.reason}`);
    });
    acceptHandshake(
      ch,
      {
        key,
        kdf: this.kdf,
        timeoutMs: HANDSHAKE_TIMEOUT_MS,
        // Members exchange Raft messages (appends, snapshot chunks); clients only send requests.
        maxFrameBytes: (role) => (role === 'peer' ? this.maxFrameBytes : CLIENT_MAX_FRAME_BYTES),
        logger: this.logger,
      },
      (hello) => {
        admitted.established();
        this.established(ch, hello);
      },
    );
  }

  private reportRefusals(reason: string): void {
    const now = Date.now();
    if (now - this.lastRefusalReport < REFUSAL_REPORT_MS) return;
    this.lastRefusalReport = now;
    this.logger.warn(`raft port ${this.boundAddress}: refusing connections (${this.admission.refused} so far): ${reason}`);
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
    const rpc = new RpcServer(ch, () => this.requestHandler, hello.role === 'peer' ? this.maxFrameBytes : CLIENT_MAX_FRAME_BYTES, this.logger);
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
        this.links.get(hello.nodeId)?.heard();
        this.deliver(msg);
      } else if (kind === FrameKind.RpcRequest) {
        const { id, body } = decodeRpcRequest(payload);
        rpc.serve(id, body);
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
}
