import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestNet, enc } from './harness.js';

describe('raft core: ReadIndex linearizable reads', () => {
  it('serves a read at the commit index once a quorum answered a heartbeat sent after it', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.tickAll(1);
    net.core('n1').propose(enc('x'));
    net.stabilize();
    const n1 = net.core('n1');
    const commit = n1.status().commit;
    n1.readIndex('r1');
    const rd = n1.ready();
    assert.deepEqual(rd.readStates, [], 'not before the confirmation round');
    const rounds = rd.messages.filter((m) => m.type === 'Append').map((m) => m.type === 'Append' && m.readRound);
    assert.deepEqual(rounds, [1, 1]);
    n1.advance(rd);
    net.queue.push(...rd.messages);
    net.stabilize();
    assert.deepEqual(net.readStates.get('n1'), [{ requestId: 'r1', index: commit }]);
  });

  it('a leader cut off from the majority never serves the read and fails it when it steps down', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.tickAll(1);
    net.isolate('n1');
    net.core('n1').readIndex('r2');
    for (let i = 0; i < 20; i++) {
      net.tick('n1');
      net.stabilize();
    }
    assert.deepEqual(net.readStates.get('n1'), []);
    assert.deepEqual(net.failedReads.get('n1'), ['r2']);
  });

  it('a follower fails the read at once', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.core('n2').readIndex('r3');
    net.stabilize();
    assert.deepEqual(net.failedReads.get('n2'), ['r3']);
  });

  it('a new leader holds reads until it has committed an entry of its own term', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.dropIf = (m) => m.type === 'Append';
    net.elect('n1');
    net.core('n1').readIndex('r4');
    net.stabilize();
    assert.deepEqual(net.readStates.get('n1'), []);
    net.dropIf = null;
    net.tickAll(2);
    assert.deepEqual(net.readStates.get('n1'), [{ requestId: 'r4', index: 1 }]);
  });

  it('a single-voter leader serves reads without a round trip', () => {
    const net = new TestNet(['n1']);
    net.elect('n1');
    net.core('n1').readIndex('r5');
    net.stabilize();
    assert.deepEqual(net.readStates.get('n1'), [{ requestId: 'r5', index: 1 }]);
  });
});
