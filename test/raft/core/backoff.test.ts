import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Entry, Message } from '../../../src/raft/core/types.js';
import { TestNet, enc } from './harness.js';

const range = (from: number, to: number, term: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ index: from + i, term, type: 'normal' as const, data: enc(`${from + i}@${term}`) }));
const rejections = (msgs: Message[], from: string) => msgs.filter((m) => m.type === 'AppendResp' && m.from === from && !m.success).length;

describe('raft core: log backoff', () => {
  it('repairs a long conflicting suffix from a deposed leader in one rejection', () => {
    const net = new TestNet([]);
    const m = { voters: ['n1', 'n2', 'n3'], learners: [] };
    const good = [...range(1, 5, 1), ...range(6, 7, 3)];
    net.add('n1', m, { hardState: { term: 3, vote: null, commit: 5 }, entries: good, snapshot: null });
    net.add('n2', m, { hardState: { term: 3, vote: null, commit: 5 }, entries: good, snapshot: null });
    net.add('n3', m, { hardState: { term: 3, vote: null, commit: 5 }, entries: [...range(1, 5, 1), ...range(6, 55, 2)], snapshot: null });
    net.elect('n1');
    net.tickAll(1);
    assert.equal(rejections(net.sent, 'n3'), 1);
    const n3 = net.core('n3').status();
    assert.equal(n3.lastIndex, 8);
    assert.equal(n3.lastTerm, 4);
    assert.equal(n3.commit, 8);
  });

  it('a follower that is far behind points the leader straight at its last index', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.isolate('n3');
    for (let i = 0; i < 100; i++) net.core('n1').propose(enc(`x${i}`));
    net.stabilize();
    net.heal();
    net.sent = [];
    net.tickAll(2);
    assert.ok(rejections(net.sent, 'n3') <= 1, `rejections: ${rejections(net.sent, 'n3')}`);
    assert.equal(net.core('n3').status().commit, net.core('n1').status().commit);
    assert.equal(net.appliedData('n3').length, 100);
  });
});
