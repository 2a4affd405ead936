/**
 * RPC connections from this node to other members, used to forward writes, reads and admin
 * requests to the leader. One cached client per address; a failed one is dropped and redialled.
 */
import type { Dialer, RpcClient, RpcPayload } from '../transport/types.js';
import type { RaftRequest } from './rpc.js';

export type { Dialer };

export class PeerLinks {
  private readonly clients = new Map<string, Promise<RpcClient>>();
  private closed = false;

  constructor(
    private readonly dial: Dialer,
    private readonly password: string | null,
    private readonly connectTimeoutMs: number,
  ) {}

  async request(addr: string, payload: RaftRequest, timeoutMs: number): Promise<RpcPayload> {
    if (this.closed) throw new Error('node is stopping');
    let pending = this.clients.get(addr);
    // A cached connection to an earlier incarnation of the peer: drop it rather than fail on it.
    if (pending !== undefined && !(await pending.catch(() => null))?.isOpen()) {
      if (this.clients.get(addr) === pending) this.clients.delete(addr);
      pending = undefined;
    }
    if (pending === undefined) {
      pending = this.dial(addr, { password: this.password, timeoutMs: Math.min(this.connectTimeoutMs, timeoutMs) });
      this.clients.set(addr, pending);
      pending.catch(() => this.clients.delete(addr));
    }
    const client = await pending;
    try {
      return await client.request(payload, timeoutMs);
    } catch (err) {
      // The connection may be broken (peer restarted): redial next time. A timeout keeps nothing either.
      if (this.clients.get(addr) === pending) this.clients.delete(addr);
      client.close();
      throw err;
    }
  }

  drop(addr: string): void {
    const pending = this.clients.get(addr);
    this.clients.delete(addr);
    // A dial that failed has nothing to close.
    pending?.then((c) => c.close()).catch(() => {});
  }

  close(): void {
    this.closed = true;
    for (const addr of [...this.clients.keys()]) this.drop(addr);
  }
}
