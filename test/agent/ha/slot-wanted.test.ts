// Which slots a member wants (Patroni 4's rules), on the topology of Patroni's permanent_slots feature:
// postgres-0 leader, postgres-1 replica, postgres-2 nofailover, postgres-3 replicatefrom postgres-2,
// permanent slots test_physical (physical), postgres_3 (physical, a member's name) and test_logical.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dynamicConfigSchema } from '../../../src/config/index.js';
import type { ClusterStatus, Member } from '../../../src/dcs/index.js';
import { permanentSlotType, publishedSlots, slotNameOnPrimary, wantedSlotSet, type SlotMember } from '../../../src/agent/ha/slot-wanted.js';
import { SlotRetention } from '../../../src/agent/ha/slot-retention.js';
import { member } from './fixtures.js';

const slots = { test_physical: 0, postgres_3: 0, test_logical: { type: 'logical', database: 'postgres', plugin: 'test_decoding' } };
const dynamic = (extra: Record<string, unknown> = {}) => dynamicConfigSchema.parse({ slots, ...extra });
const members: Member[] = [
  member('postgres-0', { role: 'primary', xlogLocation: 0x9000n }),
  member('postgres-1', { xlogLocation: 0x8000n }),
  member('postgres-2', { tags: { nofailover: true }, xlogLocation: 0x7000n }),
  member('postgres-3', { tags: { replicatefrom: 'postgres-2' }, xlogLocation: 0x6000n }),
];
const status = (s: Partial<ClusterStatus> = {}): ClusterStatus => ({ lastLsn: 0x9000n, slots: {}, retainSlots: [], ...s });
const me = (name: string): SlotMember => {
  const m = members.find((x) => x.name === name)!;
  return { name, role: name === 'postgres-0' ? 'leader' : 'replica', tags: m.tags };
};
const names = (name: string, d = dynamic(), st = status()) =>
  wantedSlotSet(me(name), { members, leaderName: 'postgres-0', status: st }, d, { standbyCluster: false }).slots.map((s) => `${s.name}:${s.type}`);

describe('wantedSlotSet (member_slots_ttl > 0, Patroni 4)', () => {
  it('the leader holds a slot for every other member and the permanent ones, never one for itself', () => {
    assert.deepEqual(names('postgres-0'), ['postgres_1:physical', 'postgres_2:physical', 'postgres_3:physical', 'test_logical:logical', 'test_physical:physical']);
  });

  it('a replica that may be promoted holds them too (for the leader as well), the logical one included', () => {
    assert.deepEqual(names('postgres-1'), ['postgres_0:physical', 'postgres_2:physical', 'postgres_3:physical', 'test_logical:logical', 'test_physical:physical']);
    assert.deepEqual(names('postgres-3'), ['postgres_0:physical', 'postgres_1:physical', 'postgres_2:physical', 'test_logical:logical', 'test_physical:physical']);
  });

  it('a nofailover member holds only the slots of members that cascade from it, and no permanent slot', () => {
    assert.deepEqual(names('postgres-2'), ['postgres_3:physical']);
  });

  it('slots of members that cascade elsewhere follow their position; the ones the leader serves are not moved', () => {
    const set = wantedSlotSet(me('postgres-0'), { members, leaderName: 'postgres-0', status: status({ slots: { postgres_3: 0x5000n, postgres_1: 0x8000n } }) }, dynamic(), { standbyCluster: false });
    const byName = new Map(set.slots.map((s) => [s.name, s]));
    assert.equal(byName.get('postgres_3')!.expectedActive, false);
    assert.equal(byName.get('postgres_3')!.lsn, 0x6000n, "the cascading member's own position is ahead of the published one");
    assert.equal(byName.get('postgres_1')!.expectedActive, true);
    assert.equal(byName.get('test_physical')!.expectedActive, true);
  });

  it('on a replica the logical slot carries the position the leader published', () => {
    const set = wantedSlotSet(me('postgres-1'), { members, leaderName: 'postgres-0', status: status({ slots: { test_logical: 0x4000n } }) }, dynamic(), { standbyCluster: false });
    assert.deepEqual(set.slots.find((s) => s.name === 'test_logical'), { name: 'test_logical', type: 'logical', database: 'postgres', plugin: 'test_decoding', source: 'permanent', lsn: 0x4000n });
  });

  it('keeps the slots retain_slots lists for members that left, except its own and on a nofailover member', () => {
    const st = status({ retainSlots: ['gone_member', 'postgres_1'] });
    assert.ok(names('postgres-0', dynamic(), st).includes('gone_member:physical'));
    assert.ok(!names('postgres-1', dynamic(), st).includes('postgres_1:physical'));
    assert.ok(!names('postgres-2', dynamic(), st).includes('gone_member:physical'));
  });

  it('a standby cluster keeps only physical permanent slots; cluster_type picks the kind of cluster', () => {
    const d = dynamic({ slots: { ...slots, only_primary: { type: 'physical', cluster_type: 'primary' }, only_standby: { cluster_type: 'standby' } } });
    const inStandby = wantedSlotSet(me('postgres-0'), { members, leaderName: 'postgres-0', status: status() }, d, { standbyCluster: true }).slots.map((s) => s.name);
    assert.ok(!inStandby.includes('test_logical') && inStandby.includes('only_standby') && !inStandby.includes('only_primary'), inStandby.join());
    const inPrimary = names('postgres-0', d);
    assert.ok(inPrimary.includes('only_primary:physical') && !inPrimary.includes('only_standby:physical'), inPrimary.join());
  });

  it('nothing without use_slots', () => {
    assert.deepEqual(names('postgres-0', dynamic({ postgresql: { use_slots: false } })), []);
  });

  it('reports bad permanent slots and conflicts instead of throwing', () => {
    const d = dynamicConfigSchema.parse({ slots: { 'Bad-Name': 0, half: { type: 'logical', plugin: 'x' }, postgres_1: { type: 'logical', database: 'a', plugin: 'b' } } });
    const set = wantedSlotSet(me('postgres-0'), { members, leaderName: 'postgres-0', status: status() }, d, { standbyCluster: false });
    assert.equal(set.problems.length, 3, set.problems.join('\n'));
    assert.match(set.problems.join('\n'), /invalid permanent replication slot name 'Bad-Name'/);
    assert.match(set.problems.join('\n'), /bad value for slot 'half'/);
    assert.match(set.problems.join('\n'), /'postgres_1' conflicts with the physical replication slot of a cluster member/);
  });
});

describe('wantedSlotSet (member_slots_ttl: 0, the pre-4.0 rules)', () => {
  const d = dynamic({ member_slots_ttl: 0 });
  it('the leader holds slots for the members streaming from it, a cascade source for those naming it', () => {
    assert.deepEqual(names('postgres-0', d), ['postgres_1:physical', 'postgres_2:physical', 'postgres_3:physical', 'test_logical:logical', 'test_physical:physical']);
    assert.deepEqual(names('postgres-2', d), ['postgres_3:physical']);
    assert.deepEqual(names('postgres-1', d), ['postgres_3:physical', 'test_logical:logical', 'test_physical:physical'], 'postgres_3 as a permanent slot');
  });
});

describe('slotNameOnPrimary', () => {
  it('is the slot at the top of the replicatefrom chain, none through a nostream member or a cycle', () => {
    assert.equal(slotNameOnPrimary({ name: 'postgres-3', tags: { replicatefrom: 'postgres-2' } }, members), 'postgres_2');
    assert.equal(slotNameOnPrimary({ name: 'x', tags: { nostream: true } }, members), null);
    const cycle = [member('a', { tags: { replicatefrom: 'b' } }), member('b', { tags: { replicatefrom: 'a' } })];
    assert.equal(slotNameOnPrimary({ name: 'a', tags: { replicatefrom: 'b' } }, cycle), null);
  });
});

describe('permanentSlotType', () => {
  it("reads Patroni's shapes: empty values are physical, database and plugin make it logical", () => {
    assert.equal(permanentSlotType(null), 'physical');
    assert.equal(permanentSlotType(0), 'physical');
    assert.equal(permanentSlotType({}), 'physical');
    assert.equal(permanentSlotType({ type: 'physical' }), 'physical');
    assert.equal(permanentSlotType({ database: 'a', plugin: 'b' }), 'logical');
    assert.equal(permanentSlotType({ type: 'logical', database: 'a' }), null);
  });
});

describe('publishedSlots', () => {
  it('publishes every slot and the leader at its WAL position with member_slots_ttl, only permanent ones without', () => {
    const positions = { postgres_1: 0x8000n, test_logical: 0x4000n, test_physical: 0x3000n };
    assert.deepEqual(publishedSlots(positions, 'postgres-0', 0x9000n, dynamic(), members), { ...positions, postgres_0: 0x9000n });
    assert.deepEqual(publishedSlots(positions, 'postgres-0', 0x9000n, dynamic({ member_slots_ttl: 0 }), members), { test_logical: 0x4000n, test_physical: 0x3000n });
  });
});

describe('SlotRetention', () => {
  it('lists member slots seen within member_slots_ttl, never permanent ones, and lets them expire', () => {
    const r = new SlotRetention();
    const permanentPhysical = new Set(['test_physical', 'postgres_3']);
    const held = ['postgres_1', 'postgres_2', 'postgres_3', 'test_physical'];
    const first = r.update({ me: 'postgres-0', members, held, permanentPhysical, ttlMs: 60_000, nowMonoMs: 0 });
    assert.deepEqual(first.retain, ['postgres_1', 'postgres_2']);
    // postgres-1 leaves: its slot stays listed until ttl after it was last seen.
    const without1 = members.filter((m) => m.name !== 'postgres-1');
    assert.deepEqual(r.update({ me: 'postgres-0', members: without1, held, permanentPhysical, ttlMs: 60_000, nowMonoMs: 59_000 }).retain, ['postgres_1', 'postgres_2']);
    const later = r.update({ me: 'postgres-0', members: without1, held, permanentPhysical, ttlMs: 60_000, nowMonoMs: 60_000 });
    assert.deepEqual(later.retain, ['postgres_2']);
    assert.deepEqual(later.expired, ['postgres_1']);
  });

  it('restarts the retention of what the previous leader listed when the key is taken', () => {
    const r = new SlotRetention();
    r.restart(['old_member'], 1000);
    assert.deepEqual(r.update({ me: 'x', members: [], held: [], permanentPhysical: new Set(), ttlMs: 5000, nowMonoMs: 5999 }).retain, ['old_member']);
    assert.deepEqual(r.update({ me: 'x', members: [], held: [], permanentPhysical: new Set(), ttlMs: 5000, nowMonoMs: 6000 }).retain, []);
  });
});
