/**
 * When a `watch` on etcd wakes: the same keys and rules as the memory and Raft stores (leader key
 * changes holder, is deleted or expires; any change of `failover`, `config`, `initialize`; renewals
 * by the same holder and member/status writes are not news), applied to etcd watch events, which
 * carry the previous value (`prev_kv`). Pure functions, tested through etcd3.test.ts.
 */
import type { ClusterKeys } from './keys.js';
import type { ClusterView } from './types.js';

/** The parts of an etcd watch event (or key-value) this needs. */
export interface WatchedKv {
  key: string;
  value: string;
}

export function etcdEventWakesWatch(k: ClusterKeys, type: 'put' | 'delete', kv: WatchedKv, prev: WatchedKv | undefined): boolean {
  if (kv.key === k.leader) {
    // A lease expiry is a delete like any other; a renewal is a put of the same name over it.
    return type === 'delete' || prev === undefined || prev.value !== kv.value;
  }
  return kv.key === k.failover || kv.key === k.config || kv.key === k.initialize;
}

/** Whether the watched keys of `now` differ from those of `view` (for a view this client did not read). */
export function watchedKeysDiffer(now: ClusterView, view: ClusterView): boolean {
  return (
    now.leader?.name !== view.leader?.name ||
    now.initialize !== view.initialize ||
    now.config?.keyVersion !== view.config?.keyVersion ||
    now.failover?.keyVersion !== view.failover?.keyVersion
  );
}
