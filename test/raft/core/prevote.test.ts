import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestNet } from './harness.js';

describe('raft core: pre-vote and check-quorum', () => {
  it('a partitioned node keeps its term and, when it returns, does not disrupt the leader', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.isolate('n3');
    for (let i = 0; i < 10; i++) {
      net.tick('n3', 20);
      net.stabilize();
    }
    assert.equal(net.core('n3').status().term, 1, 'pre-vote never wins, so the term stays');
    assert.equal(net.core('n3').status().role, 'pre-candidate');
    net.heal();
    net.tickAll(3);
    assert.equal(net.core('n1').status().role, 'leader');
    assert.equal(net.core('n1').status().term, 1);
    assert.equal(net.core('n3').status().leader, 'n1');
  });

  it('followers ignore votes while they hear from a live leader, unless the election is a transfer', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    const n2 = net.core('n2');
    n2.step({ type: 'Vote', from: 'n3', to: 'n2', term: 2, lastLogIndex: 10, lastLogTerm: 1, transfer: false });
    assert.equal(n2.status().term, 1);
    assert.equal(n2.hasReady(), false, 'no answer at all, not even a rejection');
    n2.step({ type: 'PreVote', from: 'n3', to: 'n2', term: 2, lastLogIndex: 10, lastLogTerm: 1, transfer: false });
    assert.equal(n2.hasReady(), false);
    n2.step({ type: 'Vote', from: 'n3', to: 'n2', term: 2, lastLogIndex: 10, lastLogTerm: 1, transfer: true });
    const rd = n2.ready();
    assert.deepEqual(
      rd.messages.map((m) => [m.type, m.type === 'VoteResp' && m.granted]),
      [['VoteResp', true]],
    );
  });

  it('grants votes again once the leader has been silent for the minimum election timeout', () => {
    // Election timeouts drawn near the top of [10, 20): n2 is out of the lease at 10 ticks but not campaigning yet.
    const net = new TestNet(['n1', 'n2', 'n3'], { random: () => 0.99 });
    net.elect('n1');
    net.tick('n2', 10);
    assert.equal(net.core('n2').status().role, 'follower');
    net.core('n2').step({ type: 'PreVote', from: 'n3', to: 'n2', term: 2, lastLogIndex: 10, lastLogTerm: 1, transfer: false });
    const rd = net.core('n2').ready();
    assert.deepEqual(
      rd.messages.map((m) => [m.type, m.type === 'PreVoteResp' && m.granted]),
      [['PreVoteResp', true]],
    );
    assert.equal(net.core('n2').status().term, 1, 'a pre-vote changes no state');
  });

  it('a leader that has not heard from a majority within the election timeout steps down', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.isolate('n1');
    net.tick('n1', 10);
    net.stabilize();
    assert.equal(net.core('n1').status().role, 'leader', 'the first check still counts answers from before the cut');
    net.tick('n1', 10);
    net.stabilize();
    const st = net.core('n1').status();
    assert.equal(st.role, 'follower');
    assert.equal(st.term, 1);
    assert.equal(st.leader, null);
  });

  it('a leader with one follower of two still answering keeps leading', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.isolate('n3');
    for (let i = 0; i < 40; i++) {
      net.tick('n1');
      net.stabilize();
    }
    assert.equal(net.core('n1').status().role, 'leader');
  });
});
