import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  planSlots,
  slotNameFromMemberName,
  wantedSlots,
  type ExistingSlot,
} from '../../src/postgres/slots.js';

describe('slotNameFromMemberName', () => {
  it('maps member names to slot names the way Patroni does', () => {
    assert.equal(slotNameFromMemberName('srv-1'), 'srv_1');
    assert.equal(slotNameFromMemberName('DB1.example.com'), 'db1_example_com');
    assert.equal(slotNameFromMemberName('a b'), 'au0032b');
    assert.equal(slotNameFromMemberName('é'), 'u0233');
    assert.equal(slotNameFromMemberName('x'.repeat(80)), 'x'.repeat(63));
  });
});

describe('wantedSlots', () => {
  it('wants a physical slot per other member and the permanent slots, never one for itself', () => {
    const wanted = wantedSlots('srv-1', ['srv-1', 'srv-2', 'srv-3'], {
      archiver: { type: 'physical' },
      cdc: { type: 'logical', database: 'app', plugin: 'pgoutput' },
      srv_1: { type: 'physical' },
    }, true);
    assert.deepEqual(
      wanted.map((s) => `${s.name}:${s.type}:${s.source}`),
      ['archiver:physical:permanent', 'cdc:logical:permanent', 'srv_2:physical:member', 'srv_3:physical:member'],
    );
  });

  it('wants no member slots without use_slots', () => {
    assert.deepEqual(wantedSlots('a', ['a', 'b'], {}, false), []);
  });

  it('rejects a permanent logical slot without database and plugin', () => {
    assert.throws(() => wantedSlots('a', [], { cdc: { type: 'logical', plugin: 'pgoutput' } }, true), /database and plugin/);
    assert.throws(() => wantedSlots('a', [], { 'Bad-Name': {} }, true), /not a valid slot name/);
  });
});

describe('planSlots', () => {
  const physical = (name: string, active = false): ExistingSlot => ({ name, type: 'physical', active });

  it('creates the missing member slots and remembers them as ours', () => {
    const plan = planSlots({
      existing: [physical('srv_2')],
      wanted: wantedSlots('srv-1', ['srv-1', 'srv-2', 'srv-3'], {}, true),
      owned: new Set(),
    });
    assert.deepEqual(plan.actions.map((a) => `${a.kind} ${a.kind === 'create' ? a.slot.name : a.name}`), ['create srv_3']);
    assert.deepEqual([...plan.owned].sort(), ['srv_2', 'srv_3']);
  });

  it('drops the slot of a member that went away, but only if we made it', () => {
    const plan = planSlots({
      existing: [physical('srv_2'), physical('srv_3'), physical('by_hand')],
      wanted: wantedSlots('srv-1', ['srv-1', 'srv-2'], {}, true),
      owned: new Set(['srv_2', 'srv_3']),
    });
    assert.deepEqual(plan.actions.map((a) => `${a.kind} ${a.kind === 'create' ? a.slot.name : a.name}`), ['drop srv_3']);
    assert.deepEqual([...plan.owned], ['srv_2']);
  });

  it("never drops logical slots or slots it does not own unless told to (Patroni's mode drops unknown physical ones)", () => {
    const existing: ExistingSlot[] = [
      physical('by_hand'),
      { name: 'debezium', type: 'logical', active: false, database: 'app', plugin: 'pgoutput' },
    ];
    assert.deepEqual(planSlots({ existing, wanted: [], owned: new Set() }).actions, []);
    const patroniMode = planSlots({ existing, wanted: [], owned: new Set(), dropUnknownPhysical: true });
    assert.deepEqual(patroniMode.actions.map((a) => `${a.kind} ${a.kind === 'create' ? a.slot.name : a.name}`), ['drop by_hand']);
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
      wanted: wantedSlots('a', [], { cdc: { type: 'logical', database: 'app', plugin: 'pgoutput' } }, true),
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
});
