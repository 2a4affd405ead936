import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KvStore, KvStoreError, underPrefix } from '../../../src/raft/kv/store.js';
import { encodeCommand, KvCommandError } from '../../../src/raft/kv/command.js';
import type { ExpireCommand, KvCommand, KvEvent, KvResult, Logger } from '../../../src/raft/kv/types.js';

/** Applies commands at consecutive indexes, like a node's apply loop. */
function storeWithLog(): { store: KvStore; run: (cmd: KvCommand | ExpireCommand, nowMs?: number) => KvResult; index: () => number } {
  const store = new KvStore();
  let index = 0;
  return { store, run: (cmd, nowMs = 0) => store.apply(++index, cmd, nowMs), index: () => index };
}

function capturingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, debug() {}, info() {}, warn() {}, error: (m) => errors.push(m) };
}

describe('KvStore writes and compare-and-set', () => {
  it('sets a key with the Raft index as version and keeps createVersion across updates', () => {
    const { store, run } = storeWithLog();
    run({ op: 'set', key: '/a', value: '1' });
    const r = run({ op: 'set', key: '/a', value: '2' });
    assert.equal(r.ok, true);
    assert.deepEqual(store.get('/a'), { key: '/a', value: '2', version: 2, createVersion: 1, ttlMs: null });
    assert.equal(r.ok && r.prev?.value, '1');
  });

  it('creates only if absent with ifVersion 0', () => {
    const { store, run } = storeWithLog();
    assert.equal(run({ op: 'set', key: '/leader', value: 'a', ifVersion: 0 }).ok, true);
    const lost = run({ op: 'set', key: '/leader', value: 'b', ifVersion: 0 });
    assert.deepEqual(lost, { ok: false, reason: 'version-mismatch', current: store.get('/leader') });
    assert.equal(store.get('/leader')?.value, 'a');
  });

  it('sets on a matching version and refuses a stale one', () => {
    const { store, run } = storeWithLog();
    run({ op: 'set', key: '/config', value: 'v1' });
    assert.equal(run({ op: 'set', key: '/config', value: 'v2', ifVersion: 1 }).ok, true);
    const stale = run({ op: 'set', key: '/config', value: 'v3', ifVersion: 1 });
    assert.equal(stale.ok === false && stale.reason, 'version-mismatch');
    assert.equal(run({ op: 'set', key: '/missing', value: 'x', ifVersion: 5 }).ok === false, true);
    assert.equal(store.get('/config')?.value, 'v2');
  });

  it('sets on a matching value, and reports not-found for an absent key', () => {
    const { store, run } = storeWithLog();
    const absent = run({ op: 'set', key: '/leader', value: 'a', ifValue: 'a' });
    assert.equal(absent.ok === false && absent.reason, 'not-found');
    run({ op: 'set', key: '/leader', value: 'a' });
    assert.equal(run({ op: 'set', key: '/leader', value: 'a', ifValue: 'a', ttlMs: 30_000 }).ok, true);
    const other = run({ op: 'set', key: '/leader', value: 'b', ifValue: 'b' });
    assert.equal(other.ok === false && other.reason, 'value-mismatch');
    assert.equal(store.get('/leader')?.ttlMs, 30_000);
  });

  it('requires both conditions when both are given', () => {
    const { run } = storeWithLog();
    run({ op: 'set', key: '/k', value: 'x' });
    const r = run({ op: 'set', key: '/k', value: 'y', ifVersion: 1, ifValue: 'nope' });
    assert.equal(r.ok === false && r.reason, 'value-mismatch');
  });

  it('deletes conditionally on version or value', () => {
    const { store, run } = storeWithLog();
    run({ op: 'set', key: '/leader', value: 'a' });
    assert.equal(run({ op: 'delete', key: '/leader', ifValue: 'b' }).ok, false);
    assert.equal(run({ op: 'delete', key: '/leader', ifVersion: 7 }).ok, false);
    const r = run({ op: 'delete', key: '/leader', ifValue: 'a' });
    assert.equal(r.ok && r.prev?.value, 'a');
    assert.equal(store.get('/leader'), null);
    const again = run({ op: 'delete', key: '/leader' });
    assert.equal(again.ok === false && again.reason, 'not-found');
  });

  it('deletes a prefix by path segment, never a neighbour with the same leading characters', () => {
    const { store, run } = storeWithLog();
    for (const key of ['/svc/a', '/svc/a/leader', '/svc/a/members/x', '/svc/ab/leader', '/svc/b']) run({ op: 'set', key, value: '' });
    const r = run({ op: 'deletePrefix', prefix: '/svc/a' });
    assert.equal(r.ok && r.deleted, 3);
    assert.deepEqual(store.list('').map((e) => e.key), ['/svc/ab/leader', '/svc/b']);
    assert.equal(underPrefix('/svc/ab', '/svc/a/'), false);
    assert.equal(underPrefix('/svc/ab', '/svc/a'), false);
  });

  it('lists by prefix in key order', () => {
    const { store, run } = storeWithLog();
    for (const key of ['/s/m/c', '/s/m/a', '/s/leader', '/t/x']) run({ op: 'set', key, value: key });
    assert.deepEqual(store.list('/s/m/').map((e) => e.key), ['/s/m/a', '/s/m/c']);
    assert.deepEqual(store.list('/s').map((e) => e.key), ['/s/leader', '/s/m/a', '/s/m/c']);
  });

  it('refuses entries applied out of order', () => {
    const store = new KvStore();
    store.apply(5, { op: 'set', key: '/a', value: '' }, 0);
    assert.throws(() => store.apply(5, { op: 'set', key: '/a', value: '' }, 0), KvStoreError);
    assert.doesNotThrow(() => store.apply(9, { op: 'set', key: '/a', value: '' }, 0));
  });
});

describe('KvStore client de-duplication', () => {
  it('answers a retried (clientId, seq) with the stored result without applying it again', () => {
    const store = new KvStore();
    const cmd = { clientId: 'agent-a', seq: 1, command: { op: 'set', key: '/leader', value: 'a', ifVersion: 0 } } as const;
    const first = store.apply(1, cmd, 0);
    // The reply was lost and the client retried: without de-dup the create-if-absent would fail
    // and the agent would believe it lost a race it won (pysyncobj/Patroni's bug).
    const retry = store.apply(2, cmd, 0);
    assert.deepEqual(retry, first);
    assert.equal(store.get('/leader')?.version, 1);
  });

  it('replays a stored failure too, and applies the next seq normally', () => {
    const store = new KvStore();
    store.apply(1, { op: 'set', key: '/k', value: 'x' }, 0);
    const fail = { clientId: 'c', seq: 1, command: { op: 'set', key: '/k', value: 'y', ifVersion: 0 } } as const;
    const r1 = store.apply(2, fail, 0);
    store.apply(3, { op: 'delete', key: '/k' }, 0);
    assert.deepEqual(store.apply(4, fail, 0), r1);
    assert.equal(store.get('/k'), null);
    assert.equal(store.apply(5, { clientId: 'c', seq: 2, command: { op: 'set', key: '/k', value: 'z', ifVersion: 0 } }, 0).ok, true);
  });

  it('rejects a request older than the last one seen from that client', () => {
    const store = new KvStore();
    store.apply(1, { clientId: 'c', seq: 5, command: { op: 'set', key: '/k', value: 'new' } }, 0);
    const old = store.apply(2, { clientId: 'c', seq: 4, command: { op: 'set', key: '/k', value: 'old' } }, 0);
    assert.equal(old.ok === false && old.reason, 'stale-request');
    assert.equal(store.get('/k')?.value, 'new');
  });

  it('forgets idle sessions by Raft index, deterministically', () => {
    const store = new KvStore({ sessionIdleEntries: 10 });
    store.apply(1, { clientId: 'idle', seq: 1, command: { op: 'set', key: '/i', value: '1' } }, 0);
    store.apply(2, { clientId: 'busy', seq: 1, command: { op: 'set', key: '/b', value: '1' } }, 0);
    store.apply(9, { clientId: 'busy', seq: 2, command: { op: 'set', key: '/b', value: '2' } }, 0);
    assert.equal(store.stats().sessionCount, 2);
    store.apply(11, { op: 'set', key: '/x', value: '' }, 0);
    assert.equal(store.stats().sessionCount, 1);
    // The forgotten client's retry now applies as new (documented limit of bounded memory).
    assert.equal(store.apply(12, { clientId: 'idle', seq: 1, command: { op: 'set', key: '/i', value: '1' } }, 0).ok, true);
    assert.equal(store.get('/i')?.version, 12);
  });

  it('caps the number of sessions, evicting the least recently used', () => {
    const store = new KvStore({ maxSessions: 2 });
    store.apply(1, { clientId: 'a', seq: 1, command: { op: 'set', key: '/a', value: '' } }, 0);
    store.apply(2, { clientId: 'b', seq: 1, command: { op: 'set', key: '/b', value: '' } }, 0);
    store.apply(3, { clientId: 'a', seq: 2, command: { op: 'set', key: '/a', value: '' } }, 0);
    store.apply(4, { clientId: 'c', seq: 1, command: { op: 'set', key: '/c', value: '' } }, 0);
    assert.equal(store.stats().sessionCount, 2);
    // 'b' was evicted, so its retry re-applies (new version), while 'a' is still de-duplicated.
    assert.equal(store.apply(5, { clientId: 'a', seq: 2, command: { op: 'set', key: '/a', value: '' } }, 0).ok && store.get('/a')?.version, 3);
    store.apply(6, { clientId: 'b', seq: 1, command: { op: 'set', key: '/b', value: '' } }, 0);
    assert.equal(store.get('/b')?.version, 6);
  });
});

describe('KvStore TTL on local monotonic time', () => {
  it('reports a key as expired once ttl has passed since this node applied it', () => {
    const { store, run } = storeWithLog();
    run({ op: 'set', key: '/leader', value: 'a', ttlMs: 30_000 }, 1_000);
    run({ op: 'set', key: '/forever', value: 'x' }, 1_000);
    assert.deepEqual(store.expiredKeys(30_999), []);
    assert.equal(store.leaseRemainingMs('/leader', 21_000), 10_000);
    assert.equal(store.leaseRemainingMs('/forever', 21_000), null);
    assert.deepEqual(store.expiredKeys(31_000), [{ key: '/leader', version: 1 }]);
    assert.equal(store.nextLeaseDeadlineMs(), 31_000);
    // Still readable until the leader's expire commits: all nodes must see the same thing.
    assert.equal(store.get('/leader')?.value, 'a');
  });

  it('renewing restarts the lease from the renewal apply time', () => {
    const { store, run } = storeWithLog();
    run({ op: 'set', key: '/leader', value: 'a', ttlMs: 30_000 }, 0);
    run({ op: 'set', key: '/leader', value: 'a', ttlMs: 30_000, ifValue: 'a' }, 20_000);
    assert.deepEqual(store.expiredKeys(45_000), []);
    assert.deepEqual(store.expiredKeys(50_000), [{ key: '/leader', version: 2 }]);
  });

  it('a set without ttl removes the lease', () => {
    const { store, run } = storeWithLog();
    run({ op: 'set', key: '/k', value: 'a', ttlMs: 10 }, 0);
    run({ op: 'set', key: '/k', value: 'b' }, 5);
    assert.deepEqual(store.expiredKeys(1_000), []);
    assert.equal(store.stats().leaseCount, 0);
  });

  it('applies an expire only while the version still matches (a racing renewal wins)', () => {
    const { store, run } = storeWithLog();
    run({ op: 'set', key: '/leader', value: 'a', ttlMs: 30_000 }, 0);
    const [due] = store.expiredKeys(30_000);
    assert.ok(due);
    // The holder's renewal commits before the leader's expire proposal.
    run({ op: 'set', key: '/leader', value: 'a', ttlMs: 30_000, ifValue: 'a' }, 30_001);
    const stale = run({ op: 'expire', ...due }, 30_002);
    assert.equal(stale.ok === false && stale.reason, 'version-mismatch');
    assert.equal(store.get('/leader')?.version, 2);
    const current = run({ op: 'expire', key: '/leader', version: 2 }, 60_001);
    assert.equal(current.ok, true);
    assert.equal(store.get('/leader'), null);
    assert.equal(run({ op: 'expire', key: '/leader', version: 2 }).ok, false);
  });

  it('a newly elected leader honours what remains of each lease from its own apply time', () => {
    // Two nodes apply the same log; each clock has its own origin, and the follower applied the
    // write 40 ms after the old leader did (replication delay).
    const oldLeader = new KvStore();
    const follower = new KvStore();
    const write: KvCommand = { op: 'set', key: '/leader', value: 'pg1', ttlMs: 30_000 };
    oldLeader.apply(1, write, 500_000);
    follower.apply(1, write, 7_040);
    // 12 s later the old leader's host dies; the follower becomes Raft leader.
    const electedAt = 7_040 + 12_000;
    assert.deepEqual(follower.expiredKeys(electedAt), [], 'must not expire early');
    assert.equal(follower.leaseRemainingMs('/leader', electedAt), 18_000, 'must not grant a whole new ttl');
    assert.deepEqual(follower.expiredKeys(7_040 + 30_000), [{ key: '/leader', version: 1 }]);
  });

  it('emits watch events for set, delete and expiry, and survives a failing listener', () => {
    const log = capturingLogger();
    const store = new KvStore({ logger: log });
    const seen: KvEvent[] = [];
    store.onEvent(() => {
      throw new Error('watcher bug');
    });
    const listener = (e: KvEvent): void => void seen.push(e);
    store.onEvent(listener);
    store.apply(1, { op: 'set', key: '/leader', value: 'a', ttlMs: 10 }, 0);
    store.apply(2, { op: 'expire', key: '/leader', version: 1 }, 10);
    store.apply(3, { op: 'set', key: '/x', value: '1', ifVersion: 9 }, 10); // fails: no event
    store.off(listener);
    store.apply(4, { op: 'set', key: '/y', value: '1' }, 10);
    assert.deepEqual(seen.map((e) => [e.type, e.type === 'delete' ? e.expired : null]), [['set', null], ['delete', true]]);
    assert.equal(log.errors.length, 3);
  });
});

describe('KvStore snapshots', () => {
  it('round-trips keys and client sessions; leases restart at the restore time', () => {
    const store = new KvStore();
    store.apply(1, { op: 'set', key: '/config', value: '{"ttl":30}' }, 0);
    const acquire = { clientId: 'agent-a', seq: 3, command: { op: 'set', key: '/leader', value: 'a', ttlMs: 30_000, ifVersion: 0 } } as const;
    const acquired = store.apply(2, acquire, 100);
    const restored = KvStore.restore(store.snapshot(), 9_000);
    assert.deepEqual(restored.list(''), store.list(''));
    assert.deepEqual(restored.stats(), store.stats());
    assert.equal(restored.appliedIndex, 2);
    // Conservative: counted from the restore, never from the original (unknown here) apply time.
    assert.equal(restored.leaseRemainingMs('/leader', 9_000), 30_000);
    // De-dup survives the snapshot: the retry returns the original answer.
    assert.deepEqual(restored.apply(3, acquire, 9_001), acquired);
    assert.equal(restored.get('/leader')?.version, 2);
  });

  it('restores a snapshot identical to the original store state, including the session order', () => {
    const store = new KvStore({ maxSessions: 2 });
    store.apply(1, { clientId: 'a', seq: 1, command: { op: 'set', key: '/a', value: '' } }, 0);
    store.apply(2, { clientId: 'b', seq: 1, command: { op: 'set', key: '/b', value: '' } }, 0);
    const restored = KvStore.restore(store.snapshot(), 0, { maxSessions: 2 });
    assert.deepEqual(restored.snapshot(), store.snapshot());
    for (const s of [store, restored]) s.apply(3, { clientId: 'c', seq: 1, command: { op: 'set', key: '/c', value: '' } }, 0);
    assert.deepEqual(restored.snapshot(), store.snapshot());
  });

  it('refuses a malformed snapshot with a clear error', () => {
    assert.throws(() => KvStore.restore(new TextEncoder().encode('{"v":1'), 0), /not valid JSON/);
    assert.throws(() => KvStore.restore(new TextEncoder().encode('{"v":2}'), 0), /format version 2/);
    const bad = '{"v":1,"appliedIndex":1,"entries":[{"key":"/a"}],"sessions":[]}';
    assert.throws(() => KvStore.restore(new TextEncoder().encode(bad), 0), /malformed: entry/);
  });
});

describe('KvStore.applyEncoded', () => {
  it('applies an encoded client command', () => {
    const store = new KvStore();
    const r = store.applyEncoded(1, encodeCommand({ clientId: 'c', seq: 1, command: { op: 'set', key: '/k', value: 'v' } }), 0);
    assert.equal(!(r instanceof Error) && r.ok, true);
  });

  it('skips an undecodable committed entry with a logged error and leaves the store unchanged', () => {
    const log = capturingLogger();
    const store = new KvStore({ logger: log });
    store.apply(1, { op: 'set', key: '/k', value: 'v' }, 0);
    const before = store.snapshot();
    const r = store.applyEncoded(2, new TextEncoder().encode('{"v":1,"cmd":{"op":"drop-table"}}'), 0);
    assert.ok(r instanceof KvCommandError);
    assert.match(log.errors[0] ?? '', /skipping undecodable committed entry 2/);
    assert.equal(store.appliedIndex, 2);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(store.snapshot())).entries, JSON.parse(new TextDecoder().decode(before)).entries);
  });
});
