/**
 * When a `watch` on etcd wakes: the same keys and rules as the memory and Raft stores (leader key
 * changes holder, is deleted or expires; any change of `failover`, `config`, `initialize`; renewals
 * by the same holder and member/status writes are not news), applied to etcd watch events, which
 * carry the previous value (`prev_kv`). Pure functions, tested through etcd3.test.ts.
 */
import type { ClusterKeys } from './keys.js';
import { writeWakesWatch } from './store-plumbing.js';

/** The parts of an etcd watch event (or key-value) this needs. */
export interface WatchedKv {
  key: string;
  value: string;
}

/** A lease expiry is a delete like any other; a renewal is a put of the same name over it. */
export function etcdEventWakesWatch(k: ClusterKeys, type: 'put' | 'delete', kv: WatchedKv, prev: WatchedKv | undefined): boolean {
  return writeWakesWatch(k, kv.key, prev?.value ?? null, type === 'delete' ? null : kv.value);
}

export function kvText(kv: { key: Buffer; value: Buffer }): WatchedKv {
  return { key: kv.key.toString(), value: kv.value.toString() };
}
