import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SnapshotChunk } from '../../../src/raft/core/types.js';
import { TestNet, enc } from './harness.js';

describe('raft core: snapshots and compaction', () => {
  it('sends a follower behind the compacted log the snapshot in chunks, resuming after a lost chunk', () => {
    const net = new TestNet(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.isolate('n3');
    for (let i = 0; i < 20; i++) net.core('n1').propose(enc(`x${i}`));
    net.stabilize();
    const n1 = net.core('n1');
    const applied = n1.status().applied;
    const data = Uint8Array.from({ length: 100 }, (_, i) => i);
    const snap = n1.compact(applied, data);
    assert.equal(snap.meta.index, applied);
    assert.deepEqual(snap.meta.membership.voters, ['n1', 'n2', 'n3']);
    assert.equal(n1.status().firstIndex, applied + 1);

    let droppedOnce = false;
    net.dropIf = (m) => {
      if (m.type === 'Snapshot' && m.offset === 32 && !droppedOnce) return (droppedOnce = true);
      return false;
    };
    net.heal();
    net.sent = [];
    net.tickAll(3);

    const chunks = net.sent.filter((m): m is SnapshotChunk => m.type === 'Snapshot');
    assert.ok(chunks.every((c) => c.chunk.length <= 16));
    assert.equal(chunks.filter((c) => c.offset === 32).length, 2, 'the lost chunk is resent from its offset');
    assert.equal(chunks.filter((c) => c.offset === 0).length, 1, 'the transfer resumed, it did not restart');
    const st = net.stored.get('n3')!;
    assert.deepEqual(st.snapshot?.data, data);
    assert.equal(net.core('n3').status().snapshotIndex, applied);
    assert.equal(net.core('n3').status().commit, n1.status().commit);
  });

  it('a follower whose log already holds the snapshot point keeps its log and just commits', () => {
    const net = new TestNet(['n1', 'n2']);
    net.elect('n1');
    const n2 = net.core('n2');
    const last = n2.status().lastIndex;
    n2.step({
      type: 'Snapshot',
      from: 'n1',
      to: 'n2',
      term: 1,
      meta: { index: last, term: 1, membership: { voters: ['n1', 'n2'], learners: [] } },
      offset: 0,
      chunk: new Uint8Array([1]),
      done: true,
    });
    const rd = n2.ready();
    assert.equal(rd.snapshot, null);
    assert.equal(n2.status().commit, last);
  });

  it('refuses to compact beyond the applied index', () => {
    const net = new TestNet(['n1']);
    net.elect('n1');
    net.core('n1').propose(enc('x'));
    assert.throws(() => net.core('n1').compact(5, new Uint8Array()));
  });
});
