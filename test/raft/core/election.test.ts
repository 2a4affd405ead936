import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RaftCore } from '../../../src/raft/core/raft.js';
import { TestNet, testConfig } from './harness.js';

describe('raft core: leader election', () => {
  it('a single-node cluster elects itself and commits its noop', () => {
    const net = new TestNet(['n1']);
    net.elect('n1');
    const st = net.core('n1').status();
    assert.equal(st.role, 'leader');
    assert.equal(st.term, 1);
    assert.equal(st.commit, 1);
  });

  it('the first node to time out wins, everyone follows it and the noop commits', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n2');
    for (const id of ['n1', 'n2', 'n3']) {
      const st = net.core(id).status();
      assert.equal(st.leader, 'n2', id);
      assert.equal(st.term, 1, id);
    }
    net.tickAll(1);
    for (const id of ['n1', 'n2', 'n3']) assert.equal(net.core(id).status().commit, 1, id);
  });

  it('draws the election timeout in [electionTicksMin, electionTicksMax)', () => {
    for (const [r, expected] of [
      [0, 10],
      [0.999, 19],
    ] as const) {
      const core = new RaftCore(testConfig('n1', { random: () => r }), {
        hardState: { term: 0, vote: null, commit: 0 },
        snapshot: null,
        entries: [],
        bootstrapMembership: { voters: ['n1', 'n2', 'n3'], learners: [] },
      });
      let ticks = 0;
      while (core.status().role === 'follower') {
        core.tick();
        ticks++;
      }
      assert.equal(ticks, expected);
      assert.equal(core.status().role, 'pre-candidate');
    }
  });

  it('a candidate whose log is behind gets no votes', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.isolate('n3');
    net.core('n1').propose(new Uint8Array([1]));
    net.tickAll(2);
    net.heal();
    net.isolate('n1');
    // n3 (stale log) times out first but n2 refuses it; n2 then wins.
    net.tick('n3', 40);
    net.stabilize();
    assert.notEqual(net.core('n3').status().role, 'leader');
    net.elect('n2');
    assert.equal(net.core('n3').status().leader, 'n2');
  });

  it('a learner and a node outside the config never campaign', () => {
    const net = new TestNet(['n1', 'n2'], {}, { voters: ['n1'], learners: ['n2'] });
    net.add('n3', { voters: ['n1'], learners: ['n2'] });
    net.tick('n2', 100);
    net.tick('n3', 100);
    assert.equal(net.core('n2').status().role, 'learner');
    assert.equal(net.core('n3').status().role, 'follower');
    assert.equal(net.core('n2').status().term, 0);
    assert.equal(net.core('n3').status().term, 0);
  });

  it('never grants two votes in one term', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    const n3 = net.core('n3');
    n3.step({ type: 'Vote', from: 'n1', to: 'n3', term: 5, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    n3.step({ type: 'Vote', from: 'n2', to: 'n3', term: 5, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    const rd = n3.ready();
    assert.deepEqual(
      rd.messages.map((m) => (m.type === 'VoteResp' ? [m.to, m.granted] : null)),
      [
        ['n1', true],
        ['n2', false],
      ],
    );
    assert.deepEqual(rd.hardState, { term: 5, vote: 'n1', commit: 0 });
  });
});
