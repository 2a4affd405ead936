import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Entry } from '../../../src/raft/core/types.js';
import { TestNet, enc } from './harness.js';

const e = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: enc(`${index}@${term}`) });

describe('raft core: commit rules', () => {
  it('does not commit an earlier-term entry by counting replicas, only via an entry of its own term (Figure 8)', () => {
    const net = new TestNet([]);
    const m = { voters: ['n1', 'n2', 'n3'], learners: [] };
    const hs = { term: 2, vote: null, commit: 1 };
    net.add('n1', m, { hardState: hs, entries: [e(1, 1), e(2, 2)], snapshot: null });
    net.add('n2', m, { hardState: hs, entries: [e(1, 1), e(2, 2)], snapshot: null });
    net.add('n3', m, { hardState: hs, entries: [e(1, 1)], snapshot: null });
    net.dropIf = (msg) => msg.type === 'Append';
    net.elect('n1');
    const n1 = net.core('n1');
    assert.equal(n1.status().term, 3);
    assert.equal(n1.status().lastIndex, 3, 'noop appended at election');
    n1.step({ type: 'AppendResp', from: 'n2', to: 'n1', term: 3, success: true, matchIndex: 2, readRound: 0 });
    assert.equal(n1.status().commit, 1, 'index 2 (term 2) is on a majority but must not commit yet');
    n1.step({ type: 'AppendResp', from: 'n2', to: 'n1', term: 3, success: true, matchIndex: 3, readRound: 0 });
    assert.equal(n1.status().commit, 3, 'the noop of term 3 commits, and index 2 with it');
  });

  it("counts the leader's own entry only once advance() confirms it was persisted", () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.tickAll(1);
    const n1 = net.core('n1');
    const before = n1.status().commit;
    const { index } = n1.propose(enc('x'))!;
    const rd = n1.ready();
    assert.deepEqual(
      rd.entries.map((x) => x.index),
      [index],
    );
    // Suppose the follower's ack races ahead of our fsync: with only n2 durable, 1 of 3 holds it.
    n1.step({ type: 'AppendResp', from: 'n2', to: 'n1', term: 1, success: true, matchIndex: index, readRound: 0 });
    assert.equal(n1.status().commit, before);
    n1.advance(rd);
    assert.equal(n1.status().commit, index);
  });

  it('a single-node leader commits a proposal after persisting it, in the next Ready', () => {
    const net = new TestNet(['n1']);
    net.elect('n1');
    const n1 = net.core('n1');
    const at = n1.propose(enc('x'))!;
    const rd = n1.ready();
    assert.equal(rd.committed.length, 0);
    n1.advance(rd);
    const rd2 = n1.ready();
    assert.deepEqual(
      rd2.committed.map((x) => x.index),
      [at.index],
    );
    assert.equal(rd2.hardState?.commit, at.index);
  });

  it('batches many proposals into one Ready and one Append per follower', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.tickAll(1);
    const n1 = net.core('n1');
    for (let i = 0; i < 50; i++) n1.propose(enc(`p${i}`));
    const rd = n1.ready();
    assert.equal(rd.entries.length, 50);
    const appends = rd.messages.filter((m) => m.type === 'Append');
    assert.equal(appends.length, 2);
    for (const a of appends) assert.equal(a.type === 'Append' && a.entries.length, 50);
    n1.advance(rd);
  });
});
