// Notes (the INFO/WARNING lines before the status line) belong to the decision that is carried
// out: the `ifLockLost` alternative's notes must not be logged when the renewal succeeds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/agent/ha/index.js';
import { asLeader, MONO_NOW } from './fixtures.js';

describe('decide: notes of the lock-lost alternative', () => {
  it('a leader whose promote already made it primary logs only "updated leader lock during promote"', () => {
    const decision = decide(asLeader({ self: { longAction: { name: 'promote', startedMonoMs: MONO_NOW - 1000 } } }));
    assert.equal(decision.action, 'renew');
    assert.equal(decision.reason, 'updated leader lock during promote');
    assert.deepEqual(decision.notes, [], 'the "Demoting primary during promote" note is for the lock-lost case only');
    assert.ok('ifLockLost' in decision);
    assert.equal(decision.ifLockLost.action, 'demote');
    assert.deepEqual(decision.ifLockLost.notes.map((n) => n.message), ['Demoting primary during promote']);
  });
});
