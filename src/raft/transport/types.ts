import type { Message } from '../core/types.js';
import type { Logger } from '../kv/types.js';

export interface TransportOptions {
  /** This node's advertised address "host:port" (its NodeId). */
  selfAddr: string;
  /** Address to bind; defaults to selfAddr. */
  bindAddr?: string;
  /** Shared cluster secret; when set every connection is authenticated and encrypted. */
  password?: string | null;
  /** The cluster's name (the scope): salts the password's key; random per process when absent. */
  clusterName?: string | null;
  /** Key-derivation cost (log2 of scrypt's N); only transport tests lower it from the default 15. */
  kdfLog2N?: number;
  /** Frames between members larger than this close the connection (default 16 MiB; clients: 1 MiB). */
  maxFrameBytes?: number;
  /** Connect + handshake timeout of an outgoing peer link before it retries (default 2000 ms). */
  connectTimeoutMs?: number;
  /** Messages queued per peer while it is unreachable; the oldest are dropped beyond (default 4096). */
  maxQueuedMessages?: number;
  /** An outgoing peer link that carried messages this long with nothing back from the peer is redialled (default 3000 ms). */
  peerSilenceMs?: number;
  logger: Logger;
}

/** A JSON-serialisable request or response carried on the same port as Raft traffic. */
export type RpcPayload = Record<string, unknown>;

/**
 * The server side and outgoing peer links of one Raft node. Raft messages are fire-and-forget
 * (the core retries); requests from clients, admin tools and forwarding followers get a response.
 */
export interface RaftTransport {
  /** Bind and listen; rejects with the address in the message when the port cannot be bound. */
  listen(): Promise<void>;
  /** Queue a message to `msg.to`, connecting (with backoff) when needed. Never throws. */
  send(msg: Message): void;
  onMessage(handler: (msg: Message) => void): void;
  onRequest(handler: (req: RpcPayload) => Promise<RpcPayload>): void;
  /** Drop the outgoing link to a peer (after it left the cluster). */
  disconnect(peer: string): void;
  close(): Promise<void>;
}

/** Opens an RPC connection to a member's port (TCP in production, the in-memory twin in tests). */
export type Dialer = (addr: string, opts: { password: string | null; timeoutMs: number }) => Promise<RpcClient>;

export interface RpcClient {
  request(req: RpcPayload, timeoutMs?: number): Promise<RpcPayload>;
  /** False once the connection is known to be gone (the peer restarted): redial before using it. */
  isOpen(): boolean;
  close(): void;
}
