import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planSlots, slotNameFromMemberName, slotPositions, type ExistingSlot, type WantedSlot } from '../../src/postgres/slots.js';

const member = (name: string, extra: Partial<WantedSlot> = {}): WantedSlot => ({ name, type: 'physical', source: 'member', ...extra });
const logical = (name: string, extra: Partial<WantedSlot> = {}): WantedSlot => ({ name, type: 'logical', database: 'app', plugin: 'pgoutput', source: 'permanent', ...extra });
const summary = (plan: ReturnType<typeof planSlots>) => plan.actions.map((a) => `${a.kind} ${a.kind === 'drop' || a.kind === 'skip' ? a.name : a.slot.name}${a.kind === 'advance' ? ` ${a.toLsn.toString(16)}` : ''}`);

describe('slotNameFromMemberName', () => {
  it('maps member names to slot names the way Patroni does', () => {
    assert.equal(slotNameFromMemberName('srv-1'), 'srv_1');
    assert.equal(slotNameFromMemberName('DB1.example.com'), 'db1_example_com');
    assert.equal(slotNameFromMemberName('a b'), 'au0032b');
    assert.equal(slotNameFromMemberName('é'), 'u0233');
    assert.equal(slotNameFromMemberName('x'.repeat(80)), 'x'.repeat(63));
  });
});

describe('planSlots', () => {
  const physical = (name: string, active = false): ExistingSlot => ({ name, type: 'physical', active });

  it('creates the missing member slots and remembers them as ours', () => {
    const plan = planSlots({
      existing: [physical('srv_2')],
      wanted: [member('srv_2'), member('srv_3')],
      owned: new Set(),
    });
    assert.deepEqual(summary(plan), ['create srv_3']);
    assert.deepEqual([...plan.owned].sort(), ['srv_2', 'srv_3']);
  });

  it('drops the slot of a member that went away, but only if we made it', () => {
    const plan = planSlots({
      existing: [physical('srv_2'), physical('srv_3'), physical('by_hand')],
      wanted: [member('srv_2')],
      owned: new Set(['srv_2', 'srv_3']),
    });
    assert.deepEqual(summary(plan), ['drop srv_3']);
    assert.deepEqual([...plan.owned], ['srv_2']);
  });

  it("never drops logical slots or slots it does not own unless told to (Patroni's mode drops unknown physical ones)", () => {
    const existing: ExistingSlot[] = [
      physical('by_hand'),
      { name: 'debezium', type: 'logical', active: false, database: 'app', plugin: 'pgoutput' },
    ];
    assert.deepEqual(planSlots({ existing, wanted: [], owned: new Set() }).actions, []);
    const patroniMode = planSlots({ existing, wanted: [], owned: new Set(), dropUnknownPhysical: true });
    assert.deepEqual(summary(patroniMode), ['drop by_hand']);
  });

  it('leaves ignored slots alone even when it owns them', () => {
    const plan = planSlots({
      existing: [physical('old_member')],
      wanted: [],
      owned: new Set(['old_member']),
      ignore: [{ name: 'old_member', type: 'physical' }],
    });
    assert.deepEqual(plan.actions, []);
  });

  it('recreates a permanent slot whose type or plugin changed in the config', () => {
    const plan = planSlots({
      existing: [{ name: 'cdc', type: 'logical', active: false, database: 'app', plugin: 'test_decoding' }],
      wanted: [logical('cdc')],
      owned: new Set(),
    });
    assert.deepEqual(plan.actions.map((a) => a.kind), ['drop', 'create']);
    assert.match(plan.actions[0]!.reason, /logical \(app, test_decoding\) but the config wants logical \(app, pgoutput\)/);
  });

  it('does not drop a slot a walsender is using, and says it will retry', () => {
    const plan = planSlots({ existing: [physical('gone', true)], wanted: [], owned: new Set(['gone']) });
    assert.equal(plan.actions[0]!.kind, 'skip');
    assert.match(plan.actions[0]!.reason, /in use; will retry/);
    assert.deepEqual([...plan.owned], ['gone']);
  });

  it('drops a wanted slot whose WAL is lost and creates it again', () => {
    const plan = planSlots({ existing: [{ ...physical('srv_2'), walStatus: 'lost', restartLsn: null }], wanted: [member('srv_2')], owned: new Set() });
    assert.deepEqual(summary(plan), ['drop srv_2', 'create srv_2']);
    assert.match(plan.actions[0]!.reason, /wal_status = lost/);
  });

  it('leaves a lost slot alone when it is neither wanted nor ours', () => {
    assert.deepEqual(planSlots({ existing: [{ ...physical('by_hand'), walStatus: 'lost' }], wanted: [], owned: new Set() }).actions, []);
  });

  it('advances a physical slot nobody streams from here to the published position, never back and never an active one', () => {
    const existing: ExistingSlot[] = [
      { ...physical('cascaded'), restartLsn: 0x1000n },
      { ...physical('ahead'), restartLsn: 0x9000n },
      { ...physical('streaming', true), restartLsn: 0x1000n },
      { ...physical('unreserved'), restartLsn: null },
    ];
    const plan = planSlots({
      existing,
      wanted: [
        member('cascaded', { lsn: 0x5000n, expectedActive: false }),
        member('ahead', { lsn: 0x5000n, expectedActive: false }),
        member('streaming', { lsn: 0x5000n, expectedActive: true }),
        member('unreserved', { lsn: 0x5000n, expectedActive: false }),
      ],
      owned: new Set(),
    });
    assert.deepEqual(summary(plan), ['advance cascaded 5000']);
  });

  it("on a primary never moves a logical slot (its consumer does); on a standby follows the primary's position up to what it replayed", () => {
    const existing: ExistingSlot[] = [{ name: 'cdc', type: 'logical', active: false, database: 'app', plugin: 'pgoutput', confirmedFlushLsn: 0x1000n, restartLsn: 0x800n }];
    const wanted = [logical('cdc', { lsn: 0x5000n })];
    assert.deepEqual(summary(planSlots({ existing, wanted, owned: new Set() })), []);
    assert.deepEqual(summary(planSlots({ existing, wanted, owned: new Set(), standby: { replayLsn: 0x3000n } })), ['advance cdc 3000']);
    assert.deepEqual(summary(planSlots({ existing, wanted, owned: new Set(), standby: { replayLsn: null } })), ['advance cdc 5000']);
    assert.deepEqual(summary(planSlots({ existing, wanted: [logical('cdc', { lsn: 0x800n })], owned: new Set(), standby: { replayLsn: null } })), [], 'never backwards');
  });

  it('copies a missing logical slot onto a standby only once the primary published a position for it', () => {
    assert.deepEqual(summary(planSlots({ existing: [], wanted: [logical('cdc', { lsn: 0x5000n })], owned: new Set(), standby: { replayLsn: 0x6000n } })), ['copy cdc']);
    assert.deepEqual(summary(planSlots({ existing: [], wanted: [logical('cdc')], owned: new Set(), standby: { replayLsn: 0x6000n } })), []);
    assert.deepEqual(summary(planSlots({ existing: [], wanted: [logical('cdc')], owned: new Set() })), ['create cdc'], 'a primary creates it');
  });

  it('drops an unknown logical slot on a standby unless ignore_slots matches it (Patroni), but keeps unknown physical ones', () => {
    const existing: ExistingSlot[] = [
      { name: 'dummy', type: 'logical', active: false, database: 'postgres', plugin: 'test_decoding' },
      { name: 'unmanaged_2', type: 'logical', active: false, database: 'postgres', plugin: 'test_decoding' },
      physical('by_hand'),
    ];
    const plan = planSlots({ existing, wanted: [], owned: new Set(), ignore: [{ name: 'unmanaged_2', database: 'postgres' }], standby: { replayLsn: null } });
    assert.deepEqual(summary(plan), ['drop dummy']);
    assert.deepEqual(summary(planSlots({ existing, wanted: [], owned: new Set() })), [], 'a primary drops nothing it did not make');
  });

  it('matches ignore_slots rules field by field, a missing or empty field matching anything', () => {
    const existing: ExistingSlot[] = [
      { name: 's0', type: 'logical', active: false, database: 'postgres', plugin: 'test_decoding' },
      { name: 's1', type: 'logical', active: false, database: 'other', plugin: 'test_decoding' },
    ];
    const plan = planSlots({ existing, wanted: [], owned: new Set(['s0', 's1']), ignore: [{ database: 'postgres', plugin: '' }] });
    assert.deepEqual(summary(plan), ['drop s1']);
  });
});

describe('slotPositions', () => {
  it('publishes logical slots at confirmed_flush_lsn and physical ones at restart_lsn, wanted ones only', () => {
    const existing: ExistingSlot[] = [
      { name: 'cdc', type: 'logical', active: true, database: 'app', plugin: 'pgoutput', confirmedFlushLsn: 0x5000n, restartLsn: 0x4000n },
      { name: 'node2', type: 'physical', active: true, restartLsn: 0x6000n },
      { name: 'by_hand', type: 'physical', active: false, restartLsn: 0x7000n },
      { name: 'node3', type: 'physical', active: false, restartLsn: null },
    ];
    assert.deepEqual(slotPositions(existing, [logical('cdc'), member('node2'), member('node3')]), { cdc: 0x5000n, node2: 0x6000n });
  });
});
