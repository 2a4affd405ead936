import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestNet, enc } from './harness.js';

const empty = { voters: [], learners: [] };

describe('raft core: membership changes', () => {
  it('adds a new node as a learner outside the quorum, then promotes it once caught up', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    for (let i = 0; i < 30; i++) net.core('n1').propose(enc(`x${i}`));
    net.stabilize();
    net.add('n4', empty);
    net.isolate('n4');
    const r = net.core('n1').proposeMembership({ type: 'addVoter', node: 'n4' });
    assert.equal(r.ok, true);
    net.stabilize();
    let st = net.core('n1').status();
    assert.deepEqual(st.membership, { voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    assert.equal(st.commit, st.lastIndex, 'a silent learner does not hold up commits');
    assert.equal(st.pendingPromotion, 'n4');

    net.heal();
    net.tickAll(3);
    st = net.core('n1').status();
    assert.deepEqual(st.membership, { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] });
    assert.equal(st.commit, st.lastIndex);
    assert.equal(net.core('n4').status().role, 'follower');
    assert.equal(net.appliedData('n4').length, 30);
  });

  it('allows one change at a time', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.tickAll(1);
    assert.equal(net.core('n1').proposeMembership({ type: 'addLearner', node: 'n4' }).ok, true);
    const second = net.core('n1').proposeMembership({ type: 'remove', node: 'n3' });
    assert.deepEqual(second, { ok: false, reason: 'another membership change is not committed yet' });
  });

  it('a leader that removes itself leads until the change commits, then hands over and never campaigns', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.tickAll(1);
    assert.equal(net.core('n1').proposeMembership({ type: 'remove', node: 'n1' }).ok, true);
    net.stabilize();
    const leaders = net.leaders();
    assert.equal(leaders.length, 1);
    assert.notEqual(leaders[0], 'n1');
    assert.deepEqual(net.core(leaders[0]!).status().membership.voters.sort(), ['n2', 'n3']);
    const n1 = net.core('n1');
    const term = n1.status().term;
    net.tick('n1', 200);
    assert.equal(n1.status().role, 'follower');
    assert.equal(n1.status().term, term);
  });

  it('reverts to the previous config when an uncommitted config entry is truncated', () => {
    const net = new TestNet(['n1', 'n2', 'n3'], { random: () => 0.99 });
    net.elect('n1');
    net.tickAll(1);
    net.isolate('n1');
    const r = net.core('n1').proposeMembership({ type: 'addLearner', node: 'n4' });
    assert.ok(r.ok && r.index !== null);
    net.stabilize();
    assert.deepEqual(net.core('n1').status().membership.learners, ['n4'], 'effective when appended');
    net.tick('n3', 10); // n3's lease on n1 runs out, so it may vote for n2
    net.elect('n2');
    net.core('n2').propose(enc('from n2'));
    net.stabilize();
    net.heal();
    net.tickAll(2);
    const n1 = net.core('n1').status();
    assert.equal(n1.leader, 'n2');
    assert.deepEqual(n1.membership, { voters: ['n1', 'n2', 'n3'], learners: [] });
    assert.ok(n1.membershipIndex < r.index!);
  });

  it('refuses changes before the leader committed an entry of its term', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.dropIf = (m) => m.type === 'Append';
    net.elect('n1');
    const r = net.core('n1').proposeMembership({ type: 'addLearner', node: 'n4' });
    assert.equal(r.ok, false);
  });
});
