// failsafe_mode and replication slots (issue 16, Patroni 3.0's Failsafe `slots`): what a POST /failsafe's
// `slots` becomes on the member that accepts it (failsafe-state.ts), and which view a replica keeps its
// slots by, and whether it may copy, with and without the store (failsafe.ts replicaSlotSource, pure).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { replicaSlotSource } from '../../../src/agent/ha/failsafe.js';
import { FailsafeState, slotsOfPing, type FailsafeSelf } from '../../../src/agent/ha/failsafe-state.js';
import type { DecideInput } from '../../../src/agent/ha/index.js';
import { input, view, type InputOverrides } from './fixtures.js';

const STORE_SLOTS = { dcs_slot_0: 0x100n, srv2: 0x200n };
const PING_SLOTS = { dcs_slot_0: 0x900n };

/** srv2, a replica of srv1; the store's status key has STORE_SLOTS. */
function replicaInput(o: InputOverrides & { failsafeMode?: boolean; pingedBy?: string | null; leaderSlots?: Record<string, bigint> | null } = {}): DecideInput {
  const { failsafeMode = true, pingedBy = null, leaderSlots = null, ...rest } = o;
  const v = rest.view === undefined ? view({ status: { lastLsn: 0x300n, slots: STORE_SLOTS, retainSlots: [] } }) : rest.view;
  const i = input({ ...rest, view: v, config: { failsafeMode, ...rest.config } });
  i.failsafe = { round: null, pingedBy, leaderSlots };
  return i;
}

describe('failsafe mode: the slots a POST /failsafe carries', () => {
  const self: FailsafeSelf = { name: 'srv2', failsafeMode: true, runsAsPrimary: false, leaderOrPromoting: false, walLsn: null };

  it('reads numbers and decimal strings (past 2^53) as positions, and leaves out what is not one', () => {
    assert.deepEqual(slotsOfPing({ a: 4096, b: '18446744073709551615', c: -1, d: 1.5, e: 'x', f: null }), { a: 4096n, b: 18446744073709551615n });
    assert.equal(slotsOfPing(undefined), null);
    assert.equal(slotsOfPing([1, 2]), null);
    assert.equal(slotsOfPing('{"a":1}'), null);
    assert.deepEqual(slotsOfPing({}), {});
  });

  it('the accepted ping keeps its slots for ttl; a refused one and a ping without slots keep none', () => {
    const c = { now: 0 };
    const state = new FailsafeState(() => c.now);
    state.observe(view());
    assert.equal(state.accept({ name: 'srv3', slots: { dcs_slot_0: 1 } }, self).status, 500, 'srv1 is the last known leader');
    assert.equal(state.pingedSlots(30_000), null);
    assert.equal(state.accept({ name: 'srv1', slots: { dcs_slot_0: 0x900 } }, self).status, 200);
    assert.deepEqual(state.pingedSlots(30_000), PING_SLOTS);
    c.now = 29_999;
    assert.deepEqual(state.pingedSlots(30_000), PING_SLOTS);
    c.now = 30_000;
    assert.equal(state.pingedSlots(30_000), null, 'positions older than ttl are not used');
    assert.equal(state.accept({ name: 'srv1' }, self).status, 200);
    assert.equal(state.pingedSlots(30_000), null, 'a newer ping without slots replaces the older positions');
  });
});

describe("failsafe mode: a replica's slots (Patroni's _sync_replication_slots)", () => {
  it('with the store and nobody pinging: the store view, and copying is allowed', () => {
    const i = replicaInput();
    const got = replicaSlotSource(i, i.view);
    assert.equal(got?.view, i.view);
    assert.equal(got?.copy, true);
  });

  it('without the store and failsafe_mode off: slots are not touched (Patroni returns at once)', () => {
    const i = replicaInput({ dcsOk: false, failsafeMode: false, pingedBy: 'srv1', leaderSlots: PING_SLOTS });
    assert.equal(replicaSlotSource(i, i.view), null);
  });

  it('without the store, failsafe_mode on, pinged within ttl: the pinging primary is the leader and its positions replace the status key\'s; no copy', () => {
    const i = replicaInput({ dcsOk: false, pingedBy: 'srv1', leaderSlots: PING_SLOTS });
    const got = replicaSlotSource(i, i.view)!;
    assert.deepEqual(got.view.status.slots, PING_SLOTS);
    assert.equal(got.view.status.lastLsn, 0x300n, 'only the slots come from the ping');
    assert.equal(got.view.leader?.name, 'srv1');
    assert.equal(got.view.members, i.view!.members);
    assert.equal(got.copy, false);
    assert.deepEqual(i.view!.status.slots, STORE_SLOTS, 'the cycle view is not changed');
  });

  it('a ping without slots leaves the last known positions (older, never ahead of the consumer)', () => {
    const i = replicaInput({ dcsOk: false, pingedBy: 'srv1', leaderSlots: null });
    const got = replicaSlotSource(i, i.view)!;
    assert.deepEqual(got.view.status.slots, STORE_SLOTS);
    assert.equal(got.copy, false);
  });

  it('without the store, failsafe_mode on, nobody pinged within ttl: the last good view, no copy', () => {
    const i = replicaInput({ dcsOk: false });
    const got = replicaSlotSource(i, i.view)!;
    assert.equal(got.view, i.view);
    assert.equal(got.copy, false);
  });

  it('the store read but the leader key gone (a primary cut off from the store only): the pinging primary is injected as the leader', () => {
    const i = replicaInput({ view: view({ leaderName: null, status: { lastLsn: 0x300n, slots: STORE_SLOTS, retainSlots: [] } }), pingedBy: 'srv1', leaderSlots: PING_SLOTS });
    const got = replicaSlotSource(i, i.view)!;
    assert.equal(got.view.leader?.name, 'srv1');
    assert.deepEqual(got.view.status.slots, PING_SLOTS);
    assert.equal(got.copy, false, 'failsafe is active here: no copy (it restarts the replica)');
  });

  it('the store names another leader than the member that pinged: the store wins (its positions, no copy while failsafe is active)', () => {
    const i = replicaInput({ view: view({ leaderName: 'srv3', status: { lastLsn: 0x300n, slots: STORE_SLOTS, retainSlots: [] } }), pingedBy: 'srv1', leaderSlots: PING_SLOTS });
    const got = replicaSlotSource(i, i.view)!;
    assert.equal(got.view, i.view);
    assert.equal(got.copy, false);
  });

  it('no view at all (the store never read): nothing', () => {
    assert.equal(replicaSlotSource(replicaInput({ dcsOk: false, view: null, pingedBy: 'srv1', leaderSlots: PING_SLOTS }), null), null);
  });
});
