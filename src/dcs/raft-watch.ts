/**
 * When a `watch` on the Raft store wakes: the same keys and rules as the memory store's watch
 * (leader holder changed, deleted or expired; any change of `failover`, `config`, `initialize`;
 * renewals by the same holder are not news), applied to the KV events of the LOCAL Raft node.
 *
 * The local node may lag the view the caller acted on (`getCluster` is a linearizable read served
 * by the Raft leader), so a change the view already contains can still arrive here as an event or
 * be missing from local state. Waking for it would turn the loop's sleep into a busy loop, so
 * every comparison first asks "is local state older than the view?" using Raft indexes: a key's
 * version is the index of its last write, and the highest version in the view (`maxVersion`) is a
 * lower bound of the index the view was read at. Pure functions, tested through raft.test.ts.
 */
import type { ClusterKeys } from './keys.js';
import { watchedKeys, writeWakesWatch } from './store-plumbing.js';
import type { ClusterView } from './types.js';
import type { KvEntry, KvEvent } from '../raft/kv/types.js';

/** Watched key as the view saw it (raw, before decoding: `failover` `{}` decodes to null but exists). */
export interface WatchedKey {
  version: number;
  value: string;
}

/** What `watch` compares against: the watched keys of a view and its highest key version. */
export interface WatchBaseline {
  keys: Map<string, WatchedKey | null>;
  maxVersion: number;
}

/** Keys compared by holder/value; the others change identity with every write (memory: keyVersion). */
function comparedByValue(k: ClusterKeys, key: string): boolean {
  return key === k.leader || key === k.initialize;
}

/** Baseline from the raw entries of one prefix read (what `getCluster` records for its view). */
export function baselineFromEntries(k: ClusterKeys, entries: readonly KvEntry[]): WatchBaseline {
  const keys = new Map<string, WatchedKey | null>(watchedKeys(k).map((key) => [key, null]));
  let maxVersion = 0;
  for (const e of entries) {
    if (keys.has(e.key)) keys.set(e.key, { version: e.version, value: e.value });
    maxVersion = Math.max(maxVersion, e.version);
  }
  return { keys, maxVersion };
}

/**
 * Baseline for a view this client did not read itself (or built by hand): what the decoded view
 * still tells. `initialize` carries no version there; the view's highest version stands in, which
 * only makes an older local copy count as "behind" (never a missed change).
 */
export function baselineFromView(k: ClusterKeys, view: ClusterView): WatchBaseline {
  const versions = [
    view.leader?.keyVersion,
    view.config?.keyVersion,
    view.failover?.keyVersion,
    view.history?.keyVersion,
    view.sync?.keyVersion,
    ...view.members.map((m) => m.keyVersion),
  ].filter((v): v is number => typeof v === 'number');
  const maxVersion = Math.max(0, ...versions);
  const keys = new Map<string, WatchedKey | null>([
    [k.leader, view.leader ? { version: view.leader.keyVersion, value: view.leader.name } : null],
    [k.initialize, view.initialize !== null ? { version: maxVersion, value: view.initialize } : null],
    [k.config, view.config ? { version: view.config.keyVersion, value: '' } : null],
    [k.failover, view.failover ? { version: view.failover.keyVersion, value: '' } : null],
  ]);
  return { keys, maxVersion };
}

/**
 * Whether local state (read at a moment when the node had applied at least `appliedIndex`; read
 * the index first, then the entries) already shows a change the view does not contain.
 */
export function localStateDiffers(
  k: ClusterKeys,
  baseline: WatchBaseline,
  local: ReadonlyMap<string, KvEntry | null>,
  appliedIndex: number,
): boolean {
  for (const [key, seen] of baseline.keys) {
    const now = local.get(key) ?? null;
    if (seen === null && now === null) continue;
    if (seen !== null && now === null) {
      // Absent here: deleted after the view, unless this node has not applied the view's write yet.
      if (appliedIndex >= seen.version) return true;
      continue;
    }
    if (seen === null && now !== null) {
      // Present here, absent in the view: new, unless it is an old copy the view saw deleted.
      if (now.version > baseline.maxVersion) return true;
      continue;
    }
    if (now!.version <= seen!.version) continue;
    if (!comparedByValue(k, key) || now!.value !== seen!.value) return true;
  }
  return false;
}

/** Whether one applied KV event wakes a watch (relative to `baseline` when the caller gave a view). */
export function eventWakesWatch(k: ClusterKeys, event: KvEvent, baseline: WatchBaseline | null): boolean {
  const key = event.type === 'set' ? event.entry.key : event.key;
  if (!writeWakesWatch(k, key, event.prev?.value ?? null, event.type === 'set' ? event.entry.value : null)) return false;
  if (baseline === null) return true;
  const seen = baseline.keys.get(key) ?? null;
  if (event.type === 'set') return event.entry.version > (seen?.version ?? baseline.maxVersion);
  // A delete of the version the view saw (or a newer one) is news; of an older one, the view has it already.
  return seen !== null ? event.prev.version >= seen.version : event.prev.version > baseline.maxVersion;
}
