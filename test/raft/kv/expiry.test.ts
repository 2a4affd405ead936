import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ExpiryScheduler } from '../../../src/raft/kv/expiry.js';
import { KvStore } from '../../../src/raft/kv/store.js';

describe('ExpiryScheduler', () => {
  it('proposes each due expiry once, again only after the retry delay, and forgets renewed keys', () => {
    const store = new KvStore();
    const scheduler = new ExpiryScheduler(1_000);
    store.apply(1, { op: 'set', key: '/leader', value: 'a', ttlMs: 100 }, 0);
    assert.deepEqual(scheduler.due(store, 50), []);
    assert.deepEqual(scheduler.due(store, 100), [{ key: '/leader', version: 1 }]);
    assert.deepEqual(scheduler.due(store, 500), []);
    assert.deepEqual(scheduler.due(store, 1_100), [{ key: '/leader', version: 1 }], 'lost proposal is retried');
    store.apply(2, { op: 'set', key: '/leader', value: 'a', ttlMs: 100 }, 1_150);
    assert.deepEqual(scheduler.due(store, 1_200), []);
    assert.deepEqual(scheduler.due(store, 1_250), [{ key: '/leader', version: 2 }]);
    scheduler.reset();
    assert.deepEqual(scheduler.due(store, 1_260), [{ key: '/leader', version: 2 }], 'a new term re-decides');
  });
});
