import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_DRIFT_RATIO, holderDeadlineMs } from '../../../src/raft/kv/lease.js';
import { KvStore } from '../../../src/raft/kv/store.js';
import { mulberry32 } from '../../helpers/prng.js';

describe('holderDeadlineMs', () => {
  it('counts from the send and subtracts ttl * drift', () => {
    assert.equal(holderDeadlineMs(1_000, 30_000, 0.01), 1_000 + 29_700);
    assert.equal(holderDeadlineMs(0, 30_000), 30_000 * (1 - DEFAULT_MAX_DRIFT_RATIO));
  });

  it('rejects nonsense parameters', () => {
    assert.throws(() => holderDeadlineMs(0, 0), RangeError);
    assert.throws(() => holderDeadlineMs(0, 1_000, 1), RangeError);
    assert.throws(() => holderDeadlineMs(0, 1_000, -0.1), RangeError);
  });

  it('ends the holder belief no later than any node expires, for clocks within the drift bound', () => {
    // Real time in ms; each clock reads offset + rate * realTime, rates within 1% of each other.
    const ttlMs = 30_000;
    const drift = 0.01;
    for (let trial = 0; trial < 200; trial++) {
      const r = mulberry32(trial);
      const holderRate = 1 + (r() - 0.5) * drift;
      const nodeRate = holderRate * (1 + (r() * 2 - 1) * drift * 0.999);
      const holderOffset = r() * 1e6;
      const nodeOffset = r() * 1e6;
      const sentReal = r() * 1_000;
      const applyReal = sentReal + r() * 50; // apply is always after the send
      const holderClock = (t: number): number => holderOffset + holderRate * t;
      const nodeClock = (t: number): number => nodeOffset + nodeRate * t;

      const beliefEndsReal = (holderDeadlineMs(holderClock(sentReal), ttlMs, drift) - holderOffset) / holderRate;
      const store = new KvStore();
      store.apply(1, { op: 'set', key: '/leader', value: 'h', ttlMs }, nodeClock(applyReal));
      assert.deepEqual(store.expiredKeys(nodeClock(beliefEndsReal) - 1e-6), [], `trial ${trial}`);
    }
  });
});

