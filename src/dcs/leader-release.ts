/**
 * Giving the leader key up from outside the agent (issue 17): the fence process loads this module
 * when the primary's death is certain and sends one compare-and-delete to every store member at once,
 * so that any reachable one carries it (a Raft follower forwards it to the leader, waiting for an
 * election first when the dead host was the Raft leader; the etcd client picks a member).
 *
 * The delete compares the exact write the fence was armed with (LeaderRelease): our name AND the
 * Raft version of our last confirmed renewal, or our name AND the etcd lease it was written on. A
 * release that arrives late — after the key expired and another member, or this member's next
 * incarnation (systemd restarted the agent and it renewed), wrote it — matches nothing and deletes
 * nothing (test/raft/kv/stale-release.property.test.ts; test/dcs/leader-release.test.ts). Sending
 * the same delete through several members is harmless for the same reason: once one applied it, the
 * others find the key gone.
 *
 * Loaded lazily (dynamic import) by fence-process.ts: the fence itself starts on node: builtins only.
 */
import { connectRpc, type RpcClient } from '../raft/transport/index.js';
import { clusterSalt, deriveClusterKey, KDF_LOG2_N } from '../raft/transport/auth.js';
import { unwrapReply } from '../raft/node/rpc.js';
import type { KvCommand, KvResult } from '../raft/kv/types.js';
import { buf, holds, onLease } from './etcd3-ops.js';
import { etcd3Connection, type Etcd3Section } from './etcd3-section.js';
import type { LeaderRelease, ReleaseStore } from './types.js';

export type ReleaseResult =
  /** The key held exactly our claim and is deleted now. */
  | { outcome: 'released'; via: string }
  /** The key is not there any more (expired, or the same delete already applied through another member). */
  | { outcome: 'gone'; via: string }
  /** The key now holds another write (a newer leader, or our next incarnation's renewal): left alone. */
  | { outcome: 'superseded'; via: string; holder: string | null }
  /** No member answered within the time given; `errors`: the last error per member. */
  | { outcome: 'unreachable'; errors: string[] };

export interface ReleaseOptions {
  /** Give up after this long (the key then expires on its own at the end of its lease). */
  timeoutMs: number;
  /** Per-attempt connect bound. */
  connectTimeoutMs?: number;
}

/** Sends the compare-and-delete of `release` through every member of its store; the first definitive answer wins. */
export async function releaseLeaderKey(release: LeaderRelease, options: ReleaseOptions): Promise<ReleaseResult> {
  return release.store.kind === 'raft' ? releaseOnRaft(release, release.store, options) : releaseOnEtcd(release, release.store.section as Etcd3Section, options);
}

/** Derive the Raft password's key ahead of need (scrypt costs ~100 ms), so a release does not wait for it. */
export async function prepareRelease(release: LeaderRelease): Promise<void> {
  const store = release.store;
  if (store.kind === 'raft' && store.password) await deriveClusterKey(store.password, { salt: clusterSalt(store.clusterName), log2N: KDF_LOG2_N });
  await prepareStoreClient(store.kind);
}

/** Load what a release through a store of this kind needs (no secret involved): etcd's gRPC client is what costs. */
export async function prepareStoreClient(kind: ReleaseStore['kind']): Promise<void> {
  if (kind === 'etcd3') await import('etcd3');
}

/** The one command a release sends: delete if our name AND the exact version still hold. */
export function releaseCommand(release: LeaderRelease): KvCommand {
  if (release.version === null) throw new RangeError('a Raft release needs the exact version of the claim (a holder-only delete could remove a newer incarnation’s key)');
  return { op: 'delete', key: release.key, ifValue: release.holder, ifVersion: release.version };
}

function describeFailure(result: Extract<KvResult, { ok: false }>, via: string): ReleaseResult {
  if (result.current === null) return { outcome: 'gone', via };
  return { outcome: 'superseded', via, holder: result.current.value };
}

/** How long a 'gone' answer waits for another member's 'released' for the same command. */
const GONE_GRACE_MS = 1000;

/** 'released' when any attempt says so within `graceMs`, else `gone`. */
async function settledRelease(attempts: Promise<ReleaseResult>[], gone: ReleaseResult, graceMs: number): Promise<ReleaseResult> {
  let timer: NodeJS.Timeout | undefined;
  const released = Promise.any(attempts.map((p) => p.then((r) => (r.outcome === 'released' ? r : Promise.reject(new Error(r.outcome)))))).catch(() => gone);
  const grace = new Promise<ReleaseResult>((resolve) => (timer = setTimeout(() => resolve(gone), graceMs)));
  try {
    return await Promise.race([released, grace]);
  } finally {
    clearTimeout(timer);
  }
}

async function releaseOnRaft(release: LeaderRelease, store: { addrs: string[]; password: string | null }, options: ReleaseOptions): Promise<ReleaseResult> {
  const command = releaseCommand(release);
  const deadline = performance.now() + options.timeoutMs;
  const errors = new Map<string, string>();
  const clients = new Set<RpcClient>();
  let settled = false;
  const attempt = async (addr: string): Promise<ReleaseResult> => {
    for (;;) {
      const left = deadline - performance.now();
      if (settled || left <= 0) throw new Error(errors.get(addr) ?? 'no answer in time');
      let client: RpcClient | null = null;
      try {
        client = await connectRpc(addr, { password: store.password, timeoutMs: Math.min(left, options.connectTimeoutMs ?? 1000) });
        clients.add(client);
        // The member forwards to the Raft leader (waiting for one to be elected) within `left`.
        const reply = unwrapReply(await client.request({ kind: 'kv', op: 'write', command, timeoutMs: Math.max(1, Math.floor(deadline - performance.now())) }, Math.max(1, deadline - performance.now())));
        const result = reply.result as KvResult;
        return result.ok ? { outcome: 'released', via: addr } : describeFailure(result, addr);
      } catch (err) {
        errors.set(addr, (err as Error).message);
        // A member that is down refuses at once: try it again shortly (it may be restarting).
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        if (client) {
          clients.delete(client);
          client.close();
        }
      }
    }
  };
  const attempts = store.addrs.map(attempt);
  try {
    const first = await Promise.any(attempts);
    if (first.outcome !== 'gone' || attempts.length === 1) return first;
    // The same compare-and-delete went through every member: our own delete, applied through another
    // member, makes this one find the key gone, and its answer can come back first (seen under load:
    // "already gone" logged for a key this release had deleted). The others get a moment to say so.
    return await settledRelease(attempts, first, Math.min(GONE_GRACE_MS, Math.max(0, deadline - performance.now())));
  } catch {
    // Every attempt failed (an AggregateError): each member's last error is in `errors`.
    return { outcome: 'unreachable', errors: store.addrs.map((a) => `${a}: ${errors.get(a) ?? 'no answer'}`) };
  } finally {
    settled = true;
    for (const c of clients) c.close();
  }
}

async function releaseOnEtcd(release: LeaderRelease, section: Etcd3Section, options: ReleaseOptions): Promise<ReleaseResult> {
  if (release.lease === null) throw new RangeError('an etcd release needs the lease of the claim');
  const connection = await etcd3Connection(section);
  const lib = await import('etcd3');
  const client = new lib.Etcd3({ ...connection.clientOptions, defaultCallOptions: () => ({ deadline: Date.now() + options.timeoutMs }) });
  const via = connection.endpoints.join(',');
  const key = buf(release.key);
  try {
    const res = await client.kv.txn({
      compare: [holds(release.key, release.holder), onLease(release.key, release.lease)],
      success: [{ request_delete_range: { key } }],
      failure: [{ request_range: { key } }],
    });
    if (res.succeeded) return { outcome: 'released', via };
    const current = res.responses[0]?.response_range?.kvs[0];
    return current ? { outcome: 'superseded', via, holder: current.value.toString() } : { outcome: 'gone', via };
  } catch (err) {
    return { outcome: 'unreachable', errors: [`${via}: ${(err as Error).message}`] };
  } finally {
    client.close();
  }
}
