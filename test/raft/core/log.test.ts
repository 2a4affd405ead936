import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RaftLog } from '../../../src/raft/core/log.js';
import type { Entry } from '../../../src/raft/core/types.js';

const e = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array() });

describe('raft core: in-memory log', () => {
  it('compacts and appends in amortized constant time, keeping indexes stable', () => {
    const log = new RaftLog(0, 0, []);
    for (let i = 1; i <= 10_000; i++) {
      log.append(e(i, 1));
      if (i % 100 === 0) log.compactTo(i - 50, 1);
    }
    assert.equal(log.firstIndex, 9951);
    assert.equal(log.lastIndex, 10_000);
    assert.equal(log.term(9950), 1);
    assert.equal(log.term(9949), undefined);
    assert.deepEqual(
      log.slice(9998, 20_000).map((x) => x.index),
      [9998, 9999, 10_000],
    );
  });

  it('finds where a term starts by binary search', () => {
    const log = new RaftLog(0, 0, [e(1, 1), e(2, 1), e(3, 2), e(4, 2), e(5, 2), e(6, 4)]);
    assert.equal(log.firstIndexWithTermAtLeast(2, 1, 6), 3);
    assert.equal(log.firstIndexWithTermAtLeast(3, 1, 6), 6);
    assert.equal(log.firstIndexWithTermAtLeast(2, 4, 5), 4);
  });

  it('drops a restored tail that does not connect (gap or term going down after a snapshot)', () => {
    assert.equal(new RaftLog(0, 0, [e(1, 1), e(3, 1)]).lastIndex, 1);
    assert.equal(new RaftLog(10, 5, [e(11, 3), e(12, 3)]).lastIndex, 10);
    assert.equal(new RaftLog(10, 5, [e(11, 5), e(12, 6)]).lastIndex, 12);
  });

  it('truncates a conflicting suffix and refuses to cut below the snapshot', () => {
    const log = new RaftLog(2, 1, [e(3, 1), e(4, 1), e(5, 1)]);
    log.truncateAfter(3);
    assert.equal(log.lastIndex, 3);
    log.append(e(4, 2));
    assert.equal(log.lastTerm, 2);
    assert.throws(() => log.truncateAfter(1));
  });
});
