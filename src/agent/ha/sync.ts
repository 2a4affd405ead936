/**
 * Synchronous replication on the leader (Patroni's synchronous_mode, docs/patroni-behaviour.md 4.9),
 * as a pure plan: from the cluster view, the walsenders seen in pg_stat_replication and the
 * current `synchronous_standby_names`, which standbys commits should wait for, and the ordered
 * writes (the `sync` key, the setting) that get there without ever overstating the key.
 *
 * The invariant the `sync` key carries: every commit PostgreSQL has acknowledged is on the leader
 * and on enough of the listed standbys (all of them with `quorum` 0 or absent; with quorum q, on
 * at least |standbys| − q of them). Promotion relies on it (sync-race.ts), so:
 * - a standby leaves the key BEFORE it leaves the setting (commits may stop waiting for it);
 * - it joins the key only AFTER it is in the setting, reported `sync`/`quorum` by PostgreSQL, and
 *   has flushed past the primary's position taken when it was first seen so (its watermark):
 *   commits acknowledged before that point waited for others, and are on it only once it has
 *   caught up. A new walsender pid (reconnect) or a changed setting starts a new watermark.
 * Each cycle does at most one setting change; additions to the key wait for a later cycle, which
 * also gives every walsender time to load the new setting after the reload.
 */
import type { ClusterView, MemberTags, SyncStateInput } from '../../dcs/index.js';
import { includesName, parseSyncNames, renderSyncNames, STRICT_PLACEHOLDER, type SyncNames } from './sync-names.js';
import type { Note } from './types.js';

export type SyncMode = 'off' | 'on' | 'quorum';

export interface SyncSettings {
  mode: SyncMode;
  strict: boolean;
  /** synchronous_node_count: standbys in `FIRST n`, or k in `ANY k`. */
  nodeCount: number;
  /** maximum_lag_on_syncnode in bytes; null when off (-1). */
  maxLagBytes: bigint | null;
}

/** Reads the dynamic keys (validated by the config schema: boolean or 'quorum'). */
export function syncSettingsFrom(dynamic: {
  synchronous_mode: boolean | 'quorum';
  synchronous_mode_strict: boolean;
  synchronous_node_count: number;
  maximum_lag_on_syncnode: number;
}): SyncSettings {
  const mode: SyncMode = dynamic.synchronous_mode === 'quorum' ? 'quorum' : dynamic.synchronous_mode ? 'on' : 'off';
  return {
    mode,
    strict: mode !== 'off' && dynamic.synchronous_mode_strict,
    nodeCount: Math.max(1, dynamic.synchronous_node_count),
    maxLagBytes: dynamic.maximum_lag_on_syncnode >= 0 ? BigInt(dynamic.maximum_lag_on_syncnode) : null,
  };
}

/** One walsender row of pg_stat_replication. */
export interface StandbyConnection {
  /** application_name (the member name for hactl replicas). */
  name: string;
  pid: number;
  /** startup, catchup, streaming, backup, stopping. */
  state: string;
  /** async, potential, sync, quorum. */
  syncState: string;
  /**
   * The position commits wait for on this standby (ackPositionColumn): flush_lsn, or replay_lsn /
   * write_lsn under synchronous_commit remote_apply / remote_write. Lag against maximum_lag_on_syncnode
   * and readiness are measured on it, as Patroni does.
   */
  flushLsn: bigint | null;
}

/**
 * The pg_stat_replication column a commit waits for under `synchronousCommit` (Patroni's sort_col in
 * SyncHandler.current_state): a standby whose replay is paused under remote_apply holds commits back
 * although its flush position keeps up, so its lag must be counted on replay_lsn.
 */
export function ackPositionColumn(synchronousCommit: string): 'replay_lsn' | 'write_lsn' | 'flush_lsn' {
  return synchronousCommit === 'remote_apply' ? 'replay_lsn' : synchronousCommit === 'remote_write' ? 'write_lsn' : 'flush_lsn';
}

/** Since when (walsender pid, primary position) a standby has been reported synchronous. */
export interface Watermark {
  pid: number;
  sinceLsn: bigint;
}

export interface SyncInput {
  me: string;
  settings: SyncSettings;
  view: ClusterView;
  connections: readonly StandbyConnection[];
  /** The primary's WAL position read AFTER the connections (a watermark must not be older than what it covers). */
  primaryLsn: bigint;
  /** synchronous_standby_names as the server shows it now. */
  currentSsn: string;
  /** The current value comes from postgresql.auto.conf (ours); a user's own value is left alone when the mode is off. */
  ssnManaged: boolean;
  watermarks: ReadonlyMap<string, Watermark>;
}

export type SyncStep =
  | { kind: 'write-key'; state: SyncStateInput; ifVersion: number }
  | { kind: 'delete-key'; ifVersion: number }
  | { kind: 'set-ssn'; value: string };

export interface SyncPlan {
  /** In order; the executor stops at the first key write that loses its compare-and-set. */
  steps: SyncStep[];
  notes: Note[];
  /** Watermarks to keep for the next cycle (the executor drops them all when it changes the setting). */
  watermarks: Map<string, Watermark>;
  /** Standbys synchronous and caught up now. */
  ready: string[];
  /** The standbys the leader wants commits to wait for, best first. */
  picked: string[];
}

/** Patroni: `nosync` or `sync_priority <= 0` never become synchronous; `nostream` members do not stream from us. */
export function syncPriority(tags: MemberTags): number {
  if (tags.nosync === true || tags.nostream === true) return 0;
  const p = tags.sync_priority;
  return typeof p === 'number' ? p : 1;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n) => includesName(b, n));
}

/**
 * How many OTHER listed standbys a candidate must see not ahead of it: with `names` = what commits
 * wait for (k of list L), each commit is on at least k − |L \ M| members of M.
 */
export function quorumFor(members: readonly string[], current: SyncNames): number {
  const outside = current.names.filter((n) => !includesName(members, n)).length;
  const guaranteed = current.method === 'any' ? current.num - outside : members.length;
  return Math.min(members.length, Math.max(0, members.length - Math.max(0, guaranteed)));
}

function listText(names: readonly string[]): string {
  return `[${names.map((n) => `'${n}'`).join(', ')}]`;
}

export function planSync(input: SyncInput): SyncPlan {
  const { me, settings, view } = input;
  const notes: Note[] = [];
  const steps: SyncStep[] = [];
  const key = view.sync;

  if (settings.mode === 'off') {
    if (key !== null && (key.leader === me || key.leader === null)) steps.push({ kind: 'delete-key', ifVersion: key.keyVersion });
    if (input.currentSsn.trim() !== '' && input.ssnManaged) {
      notes.push({ level: 'info', message: 'Disabled synchronous replication' });
      steps.push({ kind: 'set-ssn', value: '' });
    }
    return { steps, notes, watermarks: new Map(), ready: [], picked: [] };
  }

  const memberOf = (name: string) => view.members.find((m) => m.name.toLowerCase() === name.toLowerCase());
  const base = key !== null && key.leader === me ? key.syncStandbys : [];
  const current: SyncNames = parseSyncNames(input.currentSsn) ?? { method: 'first', num: 0, names: [] };

  // Readiness: reported synchronous, and caught up with the position of when it was first seen so.
  const watermarks = new Map<string, Watermark>();
  const ready: string[] = [];
  for (const c of input.connections) {
    const member = memberOf(c.name);
    if (!member || member.name === me || (c.syncState !== 'sync' && c.syncState !== 'quorum')) continue;
    const previous = input.watermarks.get(member.name);
    const mark = previous && previous.pid === c.pid ? previous : { pid: c.pid, sinceLsn: input.primaryLsn };
    watermarks.set(member.name, mark);
    if (c.flushLsn !== null && c.flushLsn >= mark.sinceLsn && !ready.includes(member.name)) ready.push(member.name);
  }

  // Candidates: streaming members allowed to be synchronous, healthy ones first.
  const best = new Map<string, { name: string; priority: number; flush: bigint; lagging: boolean; lagBytes: bigint }>();
  for (const c of input.connections) {
    const member = memberOf(c.name);
    if (!member || member.name === me || c.state !== 'streaming') continue;
    const priority = syncPriority(member.tags);
    if (priority <= 0) continue;
    const flush = c.flushLsn ?? 0n;
    const lagBytes = input.primaryLsn > flush ? input.primaryLsn - flush : 0n;
    const lagging = settings.maxLagBytes !== null && lagBytes > settings.maxLagBytes;
    const seen = best.get(member.name);
    if (!seen || flush > seen.flush) best.set(member.name, { name: member.name, priority, flush, lagging, lagBytes });
  }
  const candidates = [...best.values()].sort(
    (a, b) =>
      Number(a.lagging) - Number(b.lagging) ||
      b.priority - a.priority ||
      // A standby already in the setting keeps its place over an equal one: no churn of the setting.
      Number(includesName(current.names, b.name)) - Number(includesName(current.names, a.name)) ||
      (a.flush === b.flush ? 0 : a.flush > b.flush ? -1 : 1) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const healthy = candidates.filter((c) => !c.lagging);
  // A lagging standby is replaced only by a healthier one; with no alternative it stays (Patroni swaps, never drops).
  const pool = settings.mode === 'on' ? candidates.slice(0, settings.nodeCount) : healthy.length >= settings.nodeCount ? healthy : candidates.slice(0, settings.nodeCount);
  const picked = pool.map((c) => c.name);
  for (const c of candidates) {
    if (c.lagging && includesName(base, c.name) && !picked.includes(c.name)) {
      notes.push({
        level: 'info',
        message: `Replacing synchronous standby ${c.name}: ${c.lagBytes} bytes behind, maximum_lag_on_syncnode is ${settings.maxLagBytes}`,
      });
    }
  }

  const keyIsMine = key !== null && key.leader === me;
  // Strict mode with nobody to pick (Patroni 4's _handle_synchronous_strict_mode): the standbys the key
  // lists stay in the setting and in the key, so commits go on waiting for what the key promises.
  const kept = settings.strict && picked.length === 0 && keyIsMine ? base : [];
  let desired: SyncNames;
  if (picked.length === 0) {
    if (settings.strict) {
      desired = strictSetting(settings, kept, keyIsMine ? key.quorum : null);
      notes.push({
        level: 'warning',
        message: `No active replication connections from Patroni members and synchronous_mode_strict is requested: writes wait until a synchronous standby connects (${
          kept.length > 0 ? `synchronous_standby_names keeps ${renderSyncNames(desired)}, the standbys the sync key lists` : "Patroni's placeholder standby name"
        })`,
      });
    } else {
      desired = { method: 'first', num: 0, names: [] };
    }
  } else if (settings.mode === 'quorum') {
    desired = { method: 'any', num: Math.min(settings.nodeCount, picked.length), names: picked };
  } else {
    desired = { method: 'first', num: picked.length, names: picked };
  }
  const desiredText = renderSyncNames(desired);
  const changeSsn = desiredText !== input.currentSsn.trim();
  const quorumMode = settings.mode === 'quorum';

  // The key never lists a standby that is not ready under the setting in force (and, when the
  // setting changes this cycle, under the next one too). Kept standbys stay as listed: the setting
  // waits for |kept| − quorum of them, which is what the key already promised for earlier commits.
  const members = kept.length > 0 ? base : changeSsn
    ? base.filter((n) => includesName(ready, n) && includesName(picked, n))
    : picked.filter((n) => includesName(ready, n));
  const quorum = kept.length > 0 ? (key?.quorum ?? 0) : changeSsn ? Math.max(quorumFor(members, current), quorumFor(members, desired)) : quorumFor(members, current);
  const keyQuorum = kept.length > 0 ? (key?.quorum ?? null) : quorumMode || quorum > 0 ? quorum : null;
  if (!keyIsMine || !sameSet(members, base) || (key.quorum ?? 0) !== (keyQuorum ?? 0)) {
    const grows = members.some((n) => !includesName(base, n));
    if (keyIsMine && !grows) notes.push({ level: 'info', message: `Updating /sync key temporarily from ${listText(base)} to ${listText(members)}` });
    else if (members.length > 0) notes.push({ level: 'info', message: `Synchronous standby status assigned to ${listText(members)}` });
    steps.push({ kind: 'write-key', state: { leader: me, syncStandbys: members, quorum: keyQuorum }, ifVersion: key?.keyVersion ?? 0 });
  }
  if (changeSsn) {
    if (input.currentSsn.trim() === '' && desired.num > 0) notes.push({ level: 'info', message: 'Enabled synchronous replication' });
    steps.push({ kind: 'set-ssn', value: desiredText });
  }
  return { steps, notes, watermarks: changeSsn ? new Map() : watermarks, ready, picked };
}

/**
 * The setting strict mode falls back to when no standby can be picked: the standbys the `sync` key
 * lists, of which every commit then needs |standbys| − quorum (at least 1; `ANY` when that is fewer
 * than all of them, since `FIRST k` of more names is read by quorumFor as waiting for all), or
 * Patroni's placeholder when the key lists none. Either way no commit is acknowledged without a standby.
 */
export function strictSetting(settings: SyncSettings, standbys: readonly string[], quorum: number | null): SyncNames {
  if (standbys.length === 0) return { method: settings.mode === 'quorum' ? 'any' : 'first', num: 1, names: [STRICT_PLACEHOLDER] };
  const num = Math.max(1, standbys.length - (quorum ?? 0));
  return { method: settings.mode === 'quorum' || num < standbys.length ? 'any' : 'first', num, names: [...standbys] };
}

/**
 * What a member writes just before it promotes in synchronous mode (Patroni's
 * process_sync_replication_prepromote): the key names itself as leader, so nobody else may take over
 * until a standby has caught up with the new timeline.
 * - Not strict: no standbys, an empty setting (asynchronous until the leader picks one).
 * - Strict (Patroni 4): the former key's leader and standbys other than itself stay listed, with the
 *   former quorum, and the setting waits for them (the placeholder when there are none). Safe because
 *   every commit acknowledged so far is on the former leader and on |standbys| − quorum of its
 *   standbys, hence on |standbys| − quorum of the new list; the new primary acknowledges nothing
 *   until they confirm it. Who may be promoted next is the same set as before (the former leader
 *   plus its standbys): the list is never widened beyond the former key.
 */
export function prePromoteSync(me: string, settings: SyncSettings, view: ClusterView | null): { key: SyncStateInput | null; ifVersion: number; ssn: string } {
  if (settings.mode === 'off') return { key: null, ifVersion: 0, ssn: '' };
  const ifVersion = view?.sync?.keyVersion ?? 0;
  if (!settings.strict) return { key: { leader: me, syncStandbys: [], quorum: settings.mode === 'quorum' ? 0 : null }, ifVersion, ssn: '' };
  const former = view?.sync?.leader ? view.sync : null;
  const standbys: string[] = [];
  for (const name of former ? [former.leader!, ...former.syncStandbys] : []) {
    if (name.toLowerCase() !== me.toLowerCase() && !includesName(standbys, name)) standbys.push(name);
  }
  const formerQuorum = Math.min(former?.quorum ?? 0, standbys.length);
  const quorum = settings.mode === 'quorum' || formerQuorum > 0 ? formerQuorum : null;
  return { key: { leader: me, syncStandbys: standbys, quorum }, ifVersion, ssn: renderSyncNames(strictSetting(settings, standbys, quorum)) };
}
