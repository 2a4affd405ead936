/**
 * The behaviour every `Dcs` implementation must have, written once. Each implementation's test file
 * calls `runDcsContract(name, makeHarness)` (memory now; the Raft-backed store and etcd later).
 *
 * Times are small so an implementation on a real clock runs the suite in seconds: the harness's
 * `elapse` advances a manual clock or sleeps. `expirySlackMs` covers stores that expire a key a
 * little after its ttl (the Raft leader proposes the expiry on its next tick).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterView, Dcs, MemberData } from '../../src/dcs/index.js';

export interface DcsHarness {
  /** A client bound to member `name` of the one cluster under test (all clients share the store). */
  client(name: string): Promise<Dcs>;
  /** Let `ms` pass on the store's clock. */
  elapse(ms: number): Promise<void>;
  /** How long after its ttl a key may still be visible. 0 for the memory store. */
  expirySlackMs: number;
  /** The store's monotonic clock (the one lease deadlines are on). */
  nowMs(): number;
  /** Factor the harness stretches ttls by (etcd's whole-second leases); 1 when absent. */
  timeScale?: number;
  close(): Promise<void>;
}

const TTL_MS = 1_000;

/** True when a leader-key write took (it returned a lease deadline). */
async function took(write: Promise<number | null>): Promise<boolean> {
  return (await write) !== null;
}

/** Resolves the promise or fails the test after `ms` of real time (a watch that never wakes). */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function memberData(overrides: Partial<MemberData> = {}): MemberData {
  return {
    role: 'replica',
    state: 'running',
    apiUrl: 'http://127.0.0.2:8008/patroni',
    connUrl: 'postgres://127.0.0.2:5432/postgres',
    version: '0.1.0',
    timeline: 3,
    xlogLocation: 0x3000060n,
    receivedLsn: 0x3000080n,
    replayedLsn: 0x3000060n,
    replicationState: 'streaming',
    tags: { failover_priority: 2, nosync: true },
    pendingRestart: false,
    ...overrides,
  };
}

export function runDcsContract(name: string, makeHarness: () => Promise<DcsHarness>): void {
  describe(`DCS contract: ${name}`, () => {
    let h: DcsHarness;
    let serial = 0;
    /** Fresh members per test; names never repeat so tests do not see each other's keys. */
    let a: Dcs;
    let b: Dcs;

    before(async () => {
      h = await makeHarness();
    });
    after(async () => {
      await h.close();
    });

    async function freshCluster(): Promise<void> {
      // Each test starts from an empty cluster: the previous test's keys are removed.
      serial++;
      a = await h.client(`a${serial}`);
      b = await h.client(`b${serial}`);
      await a.deleteCluster();
    }

    it('lets exactly one of two racing members acquire the leader key', async () => {
      await freshCluster();
      const [wonA, wonB] = await Promise.all([took(a.attemptToAcquireLeader(TTL_MS)), took(b.attemptToAcquireLeader(TTL_MS))]);
      assert.equal(Number(wonA) + Number(wonB), 1, 'exactly one winner');
      const view = await b.getCluster();
      assert.equal(view.leader?.name, wonA ? a.memberName : b.memberName);
      assert.equal(await took((wonA ? a : b).attemptToAcquireLeader(TTL_MS)), false, 'the holder cannot create it again');
    });

    it("returns the holder's lease deadline: ttl·(1 − ρ) from when the write was sent, null when it did not take", async () => {
      await freshCluster();
      const ttl = TTL_MS * (h.timeScale ?? 1);
      const sentAcquire = h.nowMs();
      const acquired = await a.attemptToAcquireLeader(TTL_MS);
      const doneAcquire = h.nowMs();
      assert.ok(acquired !== null, 'the acquire took');
      assert.ok(acquired >= sentAcquire + ttl * 0.99 && acquired <= doneAcquire + ttl * 0.99, `deadline ${acquired} not within [${sentAcquire}, ${doneAcquire}] + ttl·0.99`);
      assert.ok(acquired < sentAcquire + ttl, 'shortened by the clock-rate bound');
      assert.equal(await b.attemptToAcquireLeader(TTL_MS), null, 'a lost race gives no deadline');
      assert.equal(await b.updateLeader(TTL_MS, null), null, 'a non-holder renewal gives no deadline');
      await h.elapse(TTL_MS * 0.3);
      const sentRenew = h.nowMs();
      const renewed = await a.updateLeader(TTL_MS, null);
      assert.ok(renewed !== null && renewed >= sentRenew + ttl * 0.99 && renewed <= h.nowMs() + ttl * 0.99, 'a renewal restarts the deadline from its send time');
      assert.ok(renewed > acquired, 'the renewal moved the deadline');
      a.setRetryTimeout(2_000);
      assert.throws(() => a.setRetryTimeout(0), RangeError, 'retry_timeout is checked');
      await a.prepareShutdown();
    });

    it('renews the leader key for the holder only', async () => {
      await freshCluster();
      assert.equal(await took(a.attemptToAcquireLeader(TTL_MS)), true);
      const before = (await a.getCluster()).leader!;
      assert.equal(await took(b.updateLeader(TTL_MS, 100n)), false, 'a non-holder cannot renew');
      assert.equal(await took(a.updateLeader(TTL_MS, 0x5000000n)), true);
      const view = await b.getCluster();
      assert.equal(view.leader?.name, a.memberName);
      assert.ok(view.leader!.keyVersion > before.keyVersion, 'a renewal changes the key version');
      assert.equal(view.status.lastLsn, 0x5000000n, 'the renewal publishes the last primary LSN');
    });

    it('publishes slot positions and retain_slots with a renewal, and keeps retain_slots when a renewal gives none', async () => {
      await freshCluster();
      assert.equal(await took(a.attemptToAcquireLeader(TTL_MS)), true);
      assert.equal(await took(a.updateLeader(TTL_MS, 0x5000000n, { cdc: 0x4000000n }, ['node2', 'node3'])), true);
      let status = (await b.getCluster()).status;
      assert.deepEqual(status.slots, { cdc: 0x4000000n });
      assert.deepEqual(status.retainSlots, ['node2', 'node3']);
      assert.equal(await took(a.updateLeader(TTL_MS, 0x5000100n, { cdc: 0x4000100n })), true);
      status = (await b.getCluster()).status;
      assert.deepEqual(status.slots, { cdc: 0x4000100n });
      assert.deepEqual(status.retainSlots, ['node2', 'node3'], 'a renewal without retainSlots keeps the stored list');
      assert.equal(await took(a.updateLeader(TTL_MS, 0x5000200n, {}, [])), true);
      assert.deepEqual((await b.getCluster()).status.retainSlots, [], 'an empty list clears it');
    });

    it('expires the leader key after ttl unless renewed, and then another member can take it', async () => {
      await freshCluster();
      assert.equal(await took(a.attemptToAcquireLeader(TTL_MS)), true);
      await h.elapse(TTL_MS * 0.6);
      assert.equal(await took(a.updateLeader(TTL_MS, null)), true);
      await h.elapse(TTL_MS * 0.6);
      assert.equal((await b.getCluster()).leader?.name, a.memberName, 'a renewal restarts the lease');
      await h.elapse(TTL_MS * 0.5 + h.expirySlackMs);
      assert.equal((await b.getCluster()).leader, null, 'gone once ttl passed since the last renewal');
      assert.equal(await took(a.updateLeader(TTL_MS, null)), false, 'an expired lease cannot be renewed');
      assert.equal(await took(b.attemptToAcquireLeader(TTL_MS)), true);
    });

    it('deletes the leader key only for its holder', async () => {
      await freshCluster();
      assert.equal(await took(a.attemptToAcquireLeader(TTL_MS)), true);
      assert.equal(await b.deleteLeader(), false);
      assert.equal((await a.getCluster()).leader?.name, a.memberName);
      assert.equal(await a.deleteLeader(0x7000000n), true);
      const view = await a.getCluster();
      assert.equal(view.leader, null);
      assert.equal(view.status.lastLsn, 0x7000000n, 'the shutdown checkpoint LSN is published for the next leader');
    });

    it('updates the config key only with the current version', async () => {
      await freshCluster();
      assert.equal(await a.setConfig({ ttl: 30, loop_wait: 10 }, 0), true, 'create-only on an absent key');
      assert.equal(await b.setConfig({ ttl: 99 }, 0), false, 'create-only fails once it exists');
      const first = (await a.getCluster()).config!;
      assert.deepEqual(first.data, { ttl: 30, loop_wait: 10 });
      assert.equal(await a.setConfig({ ttl: 20 }, first.keyVersion), true);
      assert.equal(await b.setConfig({ ttl: 40 }, first.keyVersion), false, 'a stale version loses');
      assert.deepEqual((await b.getCluster()).config!.data, { ttl: 20 });
    });

    it('lets only the first member initialize the cluster, and lets it be cancelled', async () => {
      await freshCluster();
      const [wonA, wonB] = await Promise.all([a.initialize('', { create: true }), b.initialize('', { create: true })]);
      assert.equal(Number(wonA) + Number(wonB), 1);
      const winner = wonA ? a : b;
      assert.equal((await a.getCluster()).initialize, '', 'empty while the bootstrap runs');
      assert.equal(await winner.initialize('7301234567890123456', { create: false }), true);
      assert.equal((await a.getCluster()).initialize, '7301234567890123456');
      assert.equal(await a.initialize('1', { create: true }), false);
      await winner.cancelInitialization();
      assert.equal((await b.getCluster()).initialize, null);
    });

    it('stores a switchover request and clears it only at its version', async () => {
      await freshCluster();
      assert.equal((await a.getCluster()).failover, null);
      const at = '2031-05-01T10:00:00+00:00';
      assert.equal(await a.setFailover({ leader: a.memberName, candidate: b.memberName, scheduledAt: at }), true);
      const request = (await b.getCluster()).failover!;
      assert.equal(request.leader, a.memberName);
      assert.equal(request.candidate, b.memberName);
      assert.deepEqual(request.scheduledAt, { text: at, ms: Date.parse(at) });
      assert.equal(await b.setFailover({ candidate: b.memberName }, request.keyVersion), true, 'replaced at its version');
      assert.equal(await a.deleteFailover(request.keyVersion), false, 'a stale version does not delete a newer request');
      const replaced = (await a.getCluster()).failover!;
      assert.equal(replaced.leader, null);
      assert.equal(await a.deleteFailover(replaced.keyVersion), true);
      assert.equal((await a.getCluster()).failover, null);
    });

    it('publishes member keys with their LSNs and tags, and drops them after ttl', async () => {
      await freshCluster();
      await a.touchMember(memberData({ role: 'primary', xlogLocation: 0x1_0000_0000n }), TTL_MS);
      await b.touchMember(memberData(), TTL_MS);
      const view = await a.getCluster();
      assert.deepEqual(view.members.map((m) => m.name), [a.memberName, b.memberName].sort());
      const mb = view.members.find((m) => m.name === b.memberName)!;
      assert.equal(mb.role, 'replica');
      assert.equal(mb.receivedLsn, 0x3000080n);
      assert.equal(mb.timeline, 3);
      assert.deepEqual(mb.tags, { failover_priority: 2, nosync: true });
      assert.equal(view.members.find((m) => m.name === a.memberName)!.xlogLocation, 0x1_0000_0000n);
      await h.elapse(TTL_MS * 0.6);
      await b.touchMember(memberData(), TTL_MS);
      await h.elapse(TTL_MS * 0.6 + h.expirySlackMs);
      assert.deepEqual((await a.getCluster()).members.map((m) => m.name), [b.memberName], 'the untouched member expired');
    });

    it('round-trips history, sync and status', async () => {
      await freshCluster();
      await a.setHistory([
        { timeline: 1, lsn: 0x3000060n, reason: 'no recovery target specified', timestamp: '2024-01-01T00:00:00+00:00', newLeader: b.memberName },
      ]);
      assert.equal(await a.setSyncState({ leader: a.memberName, syncStandbys: [b.memberName], quorum: null }, 0), true);
      await a.setStatus({ lastLsn: 0x9000000n, slots: { [b.memberName]: 0x8000000n }, retainSlots: [b.memberName] });
      const view = await b.getCluster();
      assert.deepEqual(view.history?.lines, [
        { timeline: 1, lsn: 0x3000060n, reason: 'no recovery target specified', timestamp: '2024-01-01T00:00:00+00:00', newLeader: b.memberName },
      ]);
      assert.deepEqual(view.sync && { leader: view.sync.leader, standbys: view.sync.syncStandbys }, { leader: a.memberName, standbys: [b.memberName] });
      assert.equal(await b.setSyncState({ leader: b.memberName, syncStandbys: [], quorum: null }, 0), false);
      assert.deepEqual(view.status, { lastLsn: 0x9000000n, slots: { [b.memberName]: 0x8000000n }, retainSlots: [b.memberName] });
      assert.equal(await a.deleteSyncState(view.sync!.keyVersion), true);
      assert.equal((await a.getCluster()).sync, null);
    });

    it('stores the failsafe topology as Patroni writes it and overwrites it', async () => {
      await freshCluster();
      assert.equal((await b.getCluster()).failsafe, null, 'no failsafe key yet');
      await a.setFailsafe({ [a.memberName]: 'http://127.0.0.1:8008/patroni', [b.memberName]: 'http://127.0.0.1:8009/patroni' });
      assert.deepEqual((await b.getCluster()).failsafe, { [a.memberName]: 'http://127.0.0.1:8008/patroni', [b.memberName]: 'http://127.0.0.1:8009/patroni' });
      await a.setFailsafe({ [a.memberName]: 'http://127.0.0.1:8008/patroni' });
      assert.deepEqual((await b.getCluster()).failsafe, { [a.memberName]: 'http://127.0.0.1:8008/patroni' });
    });

    it('wakes a watch when the leader key is deleted, and not when the holder renews it', async () => {
      await freshCluster();
      assert.equal(await took(a.attemptToAcquireLeader(TTL_MS * 10)), true);
      const view: ClusterView = await b.getCluster();
      const watching = b.watch(TTL_MS * 20, { view });
      await a.updateLeader(TTL_MS * 10, null);
      await a.touchMember(memberData(), TTL_MS * 10);
      let settled = false;
      void watching.then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(settled, false, 'renewals and member touches do not wake watchers');
      await a.deleteLeader();
      assert.equal(await within(2_000, watching, 'watch'), 'changed');
    });

    it('wakes a watch when the leader key is created', async () => {
      await freshCluster();
      // On etcd the event of a new key carries no previous value (prev_kv null): the bootstrap case.
      const watching = b.watch(TTL_MS * 20, { view: await b.getCluster() });
      assert.equal(await took(a.attemptToAcquireLeader(TTL_MS * 10)), true);
      assert.equal(await within(2_000, watching, 'watch'), 'changed');
    });

    it('wakes a watch when the leader key expires', async () => {
      await freshCluster();
      assert.equal(await took(a.attemptToAcquireLeader(TTL_MS)), true);
      const watching = b.watch(TTL_MS * 20, { view: await b.getCluster() });
      await h.elapse(TTL_MS + h.expirySlackMs);
      assert.equal(await within(2_000, watching, 'watch'), 'changed');
    });

    it('wakes a watch on a switchover request, returns at once for a stale view, and times out otherwise', async () => {
      await freshCluster();
      const view = await b.getCluster();
      const watching = b.watch(TTL_MS * 20, { view });
      await a.setFailover({ leader: a.memberName, candidate: b.memberName });
      assert.equal(await within(2_000, watching, 'watch'), 'changed');
      assert.equal(await within(2_000, b.watch(TTL_MS * 20, { view }), 'watch'), 'changed', 'the view predates the request');
      const quiet = b.watch(TTL_MS / 2, { view: await b.getCluster() });
      await h.elapse(TTL_MS / 2 + 10);
      assert.equal(await within(2_000, quiet, 'watch'), 'timeout');
      const controller = new AbortController();
      const aborted = b.watch(TTL_MS * 20, { view: await b.getCluster(), signal: controller.signal });
      controller.abort();
      assert.equal(await within(2_000, aborted, 'watch'), 'aborted');
    });

    it('removes every key of the cluster', async () => {
      await freshCluster();
      await a.attemptToAcquireLeader(TTL_MS);
      await a.initialize('7301234567890123456', { create: true });
      await a.touchMember(memberData(), TTL_MS);
      await a.setConfig({ ttl: 30 });
      await b.deleteCluster();
      const view = await a.getCluster();
      assert.deepEqual(
        [view.leader, view.initialize, view.config, view.members.length],
        [null, null, null, 0],
      );
    });
  });
}
