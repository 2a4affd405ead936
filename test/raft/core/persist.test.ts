import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestNet, enc } from './harness.js';

describe('raft core: persistence failures', () => {
  it('a leader that cannot persist steps down, re-emits what was not persisted and stays out of elections until healthy', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.tickAll(1);
    const n1 = net.core('n1');
    const at = n1.propose(enc('x'))!;
    const failed = n1.ready();
    assert.deepEqual(
      failed.entries.map((e) => e.index),
      [at.index],
    );
    // fsync failed (ENOSPC): the node drops the Ready's messages and tells the core.
    n1.stepDown('journal fsync failed: ENOSPC');
    let st = n1.status();
    assert.equal(st.role, 'follower');
    assert.equal(st.persistHealthy, false);
    assert.equal(st.lastStepDownReason, 'journal fsync failed: ENOSPC');
    assert.equal(st.commit < at.index, true);
    const again = n1.ready();
    assert.deepEqual(
      again.entries.map((e) => e.index),
      [at.index],
      'the unpersisted entry is handed out again',
    );
    assert.equal(
      again.messages.some((m) => m.type === 'Append'),
      false,
    );
    n1.advance(again);

    for (let i = 0; i < 100; i++) n1.tick();
    st = n1.status();
    assert.equal(st.role, 'follower', 'no campaign while storage is failing');
    assert.equal(st.term, 1);

    n1.setPersistHealthy(true);
    for (let i = 0; i < 20 && n1.status().role === 'follower'; i++) n1.tick();
    assert.equal(n1.status().role, 'pre-candidate');
  });

  it('a persist failure re-emits the hard state too (a vote is never sent unpersisted)', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    const n2 = net.core('n2');
    n2.step({ type: 'Vote', from: 'n1', to: 'n2', term: 1, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    const rd = n2.ready();
    assert.deepEqual(rd.hardState, { term: 1, vote: 'n1', commit: 0 });
    n2.stepDown('EIO');
    const again = n2.ready();
    assert.deepEqual(again.hardState, { term: 1, vote: 'n1', commit: 0 });
  });

  it('ready() may not be called again before advance()', () => {
    const net = new TestNet(['n1']);
    net.elect('n1');
    net.core('n1').propose(enc('x'));
    net.core('n1').ready();
    assert.equal(net.core('n1').hasReady(), false);
    assert.throws(() => net.core('n1').ready(), /before advance/);
  });
});
