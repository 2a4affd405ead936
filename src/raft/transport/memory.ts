/**
 * The in-memory twin of the TCP transport, for deterministic tests of the node shell (as
 * MemoryStorage is for storage): members of one MemoryNetwork exchange Raft messages and RPC
 * requests without sockets. Messages go through the real codec (a message that would not survive
 * the wire does not survive here either) and are delivered on a later macrotask, never inside the
 * sender's call. Links can be cut per direction, members isolated, and everything healed.
 */
import { decodeMessage, encodeMessage } from '../codec/message.js';
import type { Message, NodeId } from '../core/types.js';
import { ListenFailed, RaftNodeUnreachable, RpcTimedOut } from './errors.js';
import type { RaftTransport, RpcClient, RpcPayload } from './types.js';

export class MemoryNetwork {
  private readonly members = new Map<NodeId, MemoryTransport>();
  private readonly cut = new Set<string>();
  /** Messages delivered and dropped, and every RPC request made (from, to, kind/op), for assertions. */
  delivered = 0;
  dropped = 0;
  readonly requests: { from: NodeId; to: NodeId; what: string }[] = [];

  transport(selfAddr: NodeId): MemoryTransport {
    return new MemoryTransport(this, selfAddr);
  }

  /** The Dialer for `self`'s RPC links (forwarding to the leader, join requests); honours cut links. */
  dialerFrom(self: NodeId): (addr: string, opts: { password: string | null; timeoutMs: number }) => Promise<RpcClient> {
    return (addr) => Promise.resolve(new MemoryRpcClient(this, self, addr));
  }

  /** Messages and requests from `from` to `to` are lost until heal(). */
  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  isolate(addr: NodeId): void {
    for (const other of this.members.keys()) {
      if (other === addr) continue;
      this.cutLink(addr, other);
      this.cutLink(other, addr);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** @internal */
  register(t: MemoryTransport): void {
    if (this.members.has(t.selfAddr)) throw new ListenFailed(t.selfAddr, 'address already in use');
    this.members.set(t.selfAddr, t);
  }

  /** @internal */
  unregister(t: MemoryTransport): void {
    if (this.members.get(t.selfAddr) === t) this.members.delete(t.selfAddr);
  }

  /** @internal */
  reachable(from: NodeId | null, to: NodeId): MemoryTransport | null {
    if (from !== null && this.cut.has(`${from}>${to}`)) return null;
    return this.members.get(to) ?? null;
  }

  /** @internal */
  deliver(msg: Message): void {
    const bytes = encodeMessage(msg);
    setImmediate(() => {
      const target = this.reachable(msg.from, msg.to);
      if (target === null) {
        this.dropped++;
        return;
      }
      this.delivered++;
      target.receive(decodeMessage(bytes));
    });
  }
}

export class MemoryTransport implements RaftTransport {
  private messageHandler: (msg: Message) => void = () => {};
  requestHandler: ((req: RpcPayload) => Promise<RpcPayload>) | null = null;
  private listening = false;

  constructor(
    private readonly network: MemoryNetwork,
    readonly selfAddr: NodeId,
  ) {}

  async listen(): Promise<void> {
    this.network.register(this);
    this.listening = true;
  }

  send(msg: Message): void {
    if (!this.listening || msg.to === this.selfAddr) return;
    this.network.deliver(msg);
  }

  onMessage(handler: (msg: Message) => void): void {
    this.messageHandler = handler;
  }

  onRequest(handler: (req: RpcPayload) => Promise<RpcPayload>): void {
    this.requestHandler = handler;
  }

  disconnect(peer: string): void {
    void peer; // no connections to drop
  }

  async close(): Promise<void> {
    this.listening = false;
    this.network.unregister(this);
  }

  /** @internal */
  receive(msg: Message): void {
    if (this.listening) this.messageHandler(msg);
  }
}

/** RPC to one member, as a JSON round trip (what crosses the wire). */
class MemoryRpcClient implements RpcClient {
  private closed = false;

  constructor(
    readonly network: MemoryNetwork,
    private readonly from: NodeId,
    private readonly addr: string,
  ) {}

  async request(req: RpcPayload, timeoutMs = 5_000): Promise<RpcPayload> {
    if (this.closed) throw new RaftNodeUnreachable(this.addr, 'client closed');
    const target = this.network.reachable(this.from, this.addr);
    if (target === null || target.requestHandler === null) throw new RaftNodeUnreachable(this.addr, 'connection refused');
    const handler = target.requestHandler;
    const body = JSON.parse(JSON.stringify(req)) as RpcPayload;
    this.network.requests.push({ from: this.from, to: this.addr, what: `${String(body.kind)}/${String(body.op)}` });
    return new Promise<RpcPayload>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RpcTimedOut(this.addr, timeoutMs)), timeoutMs);
      setImmediate(() => {
        handler(body).then(
          (reply) => {
            clearTimeout(timer);
            resolve(JSON.parse(JSON.stringify(reply)) as RpcPayload);
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(err as Error);
          },
        );
      });
    });
  }

  isOpen(): boolean {
    return !this.closed;
  }

  close(): void {
    this.closed = true;
  }
}
