import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DcsUnavailable, ManualClock, withRetryTimeout } from '../../src/dcs/index.js';

describe('withRetryTimeout', () => {
  it('gives up with DcsUnavailable after retry_timeout and aborts the call', async () => {
    const clock = new ManualClock();
    let aborted = false;
    const call = withRetryTimeout('update the leader key', 3_000, clock, (signal) => {
      signal.addEventListener('abort', () => (aborted = true));
      return new Promise<never>(() => {});
    });
    clock.advance(2_999);
    clock.advance(1);
    await assert.rejects(call, (err: unknown) => err instanceof DcsUnavailable && err.operation === 'update the leader key' && /3000 ms/.test(err.message));
    assert.equal(aborted, true);
  });

  it('returns the answer in time and leaves no timer behind', async () => {
    const clock = new ManualClock();
    assert.equal(await withRetryTimeout('read', 3_000, clock, async () => 42), 42);
    assert.equal(clock.pendingTimers, 0);
  });

  it('passes other errors through, so a bug is not reported as an outage', async () => {
    const clock = new ManualClock();
    await assert.rejects(withRetryTimeout('read', 3_000, clock, async () => { throw new TypeError('bug'); }), TypeError);
  });
});
