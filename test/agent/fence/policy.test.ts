// What the fence changes in a cycle's decision (src/agent/fence/policy.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/agent/ha/index.js';
import { applyFencePolicy, type FenceInput } from '../../../src/agent/fence/policy.js';
import { asLeader, health, input, primary, view } from '../ha/fixtures.js';

const LIVE: FenceInput = { mode: 'on', live: true, wasFenced: false };
const DEAD: FenceInput = { mode: 'on', live: false, wasFenced: false };
const decideWith = (i: ReturnType<typeof input>, f: FenceInput) => applyFencePolicy(decide(i), i, f);

describe('fence policy', () => {
  it('leaves every decision alone while the fence is live and nothing was fenced', () => {
    const i = asLeader();
    assert.deepEqual(decideWith(i, LIVE), decide(i));
  });

  it('demotes a running primary (releasing the key) when the fence process is dead and could not be restarted', () => {
    const d = decideWith(asLeader(), DEAD);
    assert.equal(d.action, 'demote');
    if (d.action !== 'demote') return;
    assert.equal(d.mode, 'immediate');
    assert.equal(d.releaseLeader, true);
    assert.match(d.reason, /fence process is not running/);
  });

  it('does not take the key or promote without a live fence', () => {
    const race = input({ view: view({ leaderName: null }), memberHealth: [health('srv1', { reachable: false }), health('srv3')] });
    assert.equal(decide(race).action, 'acquire-and-promote');
    const d = decideWith(race, DEAD);
    assert.equal(d.action, 'no-action');
    assert.match(d.reason, /fence process is not running/);
  });

  it('does nothing in mode off or while paused (fencing is disabled there)', () => {
    assert.equal(decideWith(asLeader(), { ...DEAD, mode: 'off' }).action, 'renew');
    assert.equal(decideWith(asLeader({ config: { pause: true } }), DEAD).action, 'renew');
  });

  it('a fenced primary that still holds the key rejoins as a replica when another member can take over', () => {
    const crashed = asLeader({ local: primary({ role: 'crashed' }), memberHealth: [health('srv2'), health('srv3')] });
    assert.equal(decide(crashed).action, 'restart-primary');
    const d = decideWith(crashed, { ...LIVE, wasFenced: true });
    assert.equal(d.action, 'demote');
    if (d.action !== 'demote') return;
    assert.equal(d.releaseLeader, true);
    assert.match(d.reason, /fenced/);
  });

  it('a fenced primary restarts in place when no other member can take over', () => {
    const crashed = asLeader({ local: primary({ role: 'crashed' }), memberHealth: [health('srv2', { reachable: false }), health('srv3', { reachable: false })] });
    const d = decideWith(crashed, { ...LIVE, wasFenced: true });
    assert.equal(d.action, 'restart-primary');
    assert.ok(d.notes.some((n) => /no other member can take over/.test(n.message)));
  });
});
