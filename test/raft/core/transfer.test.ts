import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestNet, enc } from './harness.js';

describe('raft core: leadership transfer', () => {
  it('hands leadership to an up-to-date follower at once', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    assert.deepEqual(net.core('n1').transferLeadership('n2'), { ok: true });
    net.stabilize();
    assert.deepEqual(net.leaders(), ['n2']);
    assert.equal(net.core('n1').status().leader, 'n2');
    assert.equal(net.core('n2').status().term, 2);
  });

  it('catches a lagging target up before TimeoutNow, refusing proposals meanwhile', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.isolate('n3');
    for (let i = 0; i < 5; i++) net.core('n1').propose(enc(`x${i}`));
    net.stabilize();
    net.sent = [];
    assert.deepEqual(net.core('n1').transferLeadership('n3'), { ok: true });
    assert.equal(net.core('n1').propose(enc('refused')), null);
    net.stabilize();
    assert.equal(net.sent.filter((m) => m.type === 'TimeoutNow').length, 0);
    net.heal();
    net.tickAll(1);
    assert.deepEqual(net.leaders(), ['n3']);
    assert.deepEqual(net.appliedData('n3').slice(0, 5), ['x0', 'x1', 'x2', 'x3', 'x4']);
  });

  it('gives up after an election timeout when the target does not take over', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.isolate('n3');
    net.core('n1').transferLeadership('n3');
    assert.equal(net.core('n1').propose(enc('x')), null);
    for (let i = 0; i < 10; i++) {
      net.tick('n1');
      net.stabilize();
    }
    assert.equal(net.core('n1').status().leadTransferee, null);
    assert.notEqual(net.core('n1').propose(enc('y')), null);
    assert.deepEqual(net.leaders(), ['n1']);
  });

  it('refuses a target that is not a voter', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    assert.equal(net.core('n1').transferLeadership('n9').ok, false);
    assert.equal(net.core('n2').transferLeadership('n3').ok, false);
  });
});
