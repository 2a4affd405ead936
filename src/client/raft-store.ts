/**
 * `hactl remove` wipes a cluster's keys from the Raft store. That is the one operator action that
 * goes to the store rather than to an agent: it is meant for a cluster whose agents are stopped
 * (Patroni's `remove` deletes the DCS prefix directly too). The Raft port accepts KV requests from
 * any client that knows the password; a follower forwards the write to the leader.
 */
import { clusterKeys } from '../dcs/keys.js';
import { ClusterStateError } from './errors.js';

export interface RemoveClusterOptions {
  /** Raft addresses (host:port) to try in turn. */
  addrs: string[];
  password: string | null;
  namespace: string;
  scope: string;
  timeoutMs?: number;
}

/** Deletes `/<namespace>/<scope>/` and everything under it; answers how many keys went. */
export async function removeClusterKeys(opts: RemoveClusterOptions): Promise<{ deleted: number; via: string }> {
  if (opts.addrs.length === 0) throw new ClusterStateError('no Raft address to reach the store: set raft.self_addr/partner_addrs in the config file (-c)');
  const { prefix } = clusterKeys(opts.namespace, opts.scope);
  const [{ connectRpc, RaftNodeUnreachable }, { unwrapReply }] = await Promise.all([import('../raft/transport/index.js'), import('../raft/node/rpc.js')]);
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const failures: { url: string; reason: string }[] = [];
  for (const addr of opts.addrs) {
    let rpc;
    try {
      rpc = await connectRpc(addr, { password: opts.password, timeoutMs });
    } catch (err) {
      if (!(err instanceof RaftNodeUnreachable)) throw err;
      failures.push({ url: addr, reason: err.message });
      continue;
    }
    try {
      const reply = unwrapReply(await rpc.request({ kind: 'kv', op: 'write', command: { op: 'deletePrefix', prefix }, timeoutMs }, timeoutMs + 500));
      const result = reply.result as { ok: boolean; deleted?: number };
      return { deleted: result.deleted ?? 0, via: addr };
    } finally {
      rpc.close();
    }
  }
  throw new ClusterStateError(`no Raft node reachable (tried ${failures.map((f) => `${f.url}: ${f.reason}`).join('; ')})`);
}
