/**
 * Admin client used by `hactl raft …` commands (and later src/client): one connection to one
 * node's Raft port, typed calls, errors an operator can read. Membership changes and transfers are
 * forwarded to the leader by the node that receives them.
 */
import { connectRpc, type RpcClient } from '../transport/index.js';
import { unwrapReply } from '../node/rpc.js';
import type { AdminRequest, AdminStatus, MemberInfo, MembershipResult, TransferResult } from './protocol.js';

export interface AdminClientOptions {
  password?: string | null;
  /** Connect + handshake bound, and the default per-request bound. */
  timeoutMs?: number;
}

export class RaftAdminClient {
  private constructor(
    readonly addr: string,
    private readonly rpc: RpcClient,
    private readonly timeoutMs: number,
  ) {}

  /** Rejects with RaftNodeUnreachable (with the address) or RaftAuthFailed (wrong/missing password). */
  static async connect(addr: string, opts: AdminClientOptions = {}): Promise<RaftAdminClient> {
    const timeoutMs = opts.timeoutMs ?? 5_000;
    const rpc = await connectRpc(addr, { password: opts.password ?? null, timeoutMs });
    return new RaftAdminClient(addr, rpc, timeoutMs);
  }

  async status(): Promise<AdminStatus> {
    return (await this.call({ kind: 'admin', op: 'status' })).status as AdminStatus;
  }

  async members(): Promise<MemberInfo[]> {
    return (await this.call({ kind: 'admin', op: 'members' })).members as MemberInfo[];
  }

  async add(addr: string, timeoutMs = 30_000): Promise<MembershipResult> {
    return (await this.call({ kind: 'admin', op: 'add', addr, timeoutMs }, timeoutMs + 1_000)).result as MembershipResult;
  }

  async remove(addr: string, timeoutMs = 30_000): Promise<MembershipResult> {
    return (await this.call({ kind: 'admin', op: 'remove', addr, timeoutMs }, timeoutMs + 1_000)).result as MembershipResult;
  }

  /** Without `to` the leader picks the most up-to-date voter. */
  async transfer(to?: string | null, timeoutMs = 5_000): Promise<TransferResult> {
    const req: AdminRequest = to ? { kind: 'admin', op: 'transfer', addr: to, timeoutMs } : { kind: 'admin', op: 'transfer', timeoutMs };
    return (await this.call(req, timeoutMs + 1_000)).result as TransferResult;
  }

  close(): void {
    this.rpc.close();
  }

  private async call(req: AdminRequest, timeoutMs = this.timeoutMs): Promise<Record<string, unknown>> {
    return unwrapReply(await this.rpc.request(req as unknown as Record<string, unknown>, timeoutMs));
  }
}

/** Connect, run one call, always close. */
export async function withAdminClient<T>(addr: string, opts: AdminClientOptions, fn: (c: RaftAdminClient) => Promise<T>): Promise<T> {
  const client = await RaftAdminClient.connect(addr, opts);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Highest raft_term the reachable members among `addrs` report; null when none answered. */
export async function clusterTerm(addrs: readonly string[], opts: AdminClientOptions): Promise<number | null> {
  const terms = await Promise.all(
    addrs.map((addr) =>
      withAdminClient(addr, opts, (c) => c.status()).then(
        (s) => s.raft_term,
        // An unreachable member just does not count; the caller says when none answered.
        () => null,
      ),
    ),
  );
  const known = terms.filter((t): t is number => t !== null);
  return known.length > 0 ? Math.max(...known) : null;
}
