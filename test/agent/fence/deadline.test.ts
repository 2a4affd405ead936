// The fence deadline arithmetic (src/agent/fence/deadline.ts): always before the earliest moment
// any Raft leader could expire the renewed key, whatever the clock-rate drift within the bound.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  earliestExpiryOnHolderClockMs,
  FENCE_MAX_DRIFT_RATIO,
  fenceDeadlineMonoMs,
  fenceTimingWarning,
  measureMonoOffsetNs,
  monoMsToHostNs,
} from '../../../src/agent/fence/deadline.js';
import { DEFAULT_MAX_DRIFT_RATIO, holderDeadlineMs } from '../../../src/raft/kv/lease.js';

describe('fence deadline', () => {
  it('uses the same clock-rate bound as the Raft KV lease rule', () => {
    assert.equal(FENCE_MAX_DRIFT_RATIO, DEFAULT_MAX_DRIFT_RATIO);
  });

  it('is the renewal send time + ttl·(1 − ρ) − safety margin', () => {
    assert.equal(fenceDeadlineMonoMs({ sentAtMonoMs: 1000, ttlMs: 10_000, safetyMarginMs: 1000 }), 1000 + 9900 - 1000);
    assert.equal(fenceDeadlineMonoMs({ sentAtMonoMs: 0, ttlMs: 6000, safetyMarginMs: 0 }), holderDeadlineMs(0, 6000));
    assert.equal(fenceDeadlineMonoMs({ sentAtMonoMs: 50, ttlMs: 30_000, safetyMarginMs: 500, maxDriftRatio: 0 }), 29_550);
  });

  it('ends strictly before the earliest possible expiry on any node for every ttl, margin and send time', () => {
    for (const ttlMs of [1000, 6000, 10_000, 30_000, 120_000]) {
      for (const safetyMarginMs of [0, 1, 500, 1000]) {
        for (const sentAtMonoMs of [0, 1234.567, 9e9]) {
          const fence = fenceDeadlineMonoMs({ sentAtMonoMs, ttlMs, safetyMarginMs });
          const expiry = earliestExpiryOnHolderClockMs(sentAtMonoMs, ttlMs);
          assert.ok(fence < expiry || (safetyMarginMs === 0 && fence <= expiry), `ttl ${ttlMs} margin ${safetyMarginMs}: ${fence} vs ${expiry}`);
          assert.ok(expiry - fence >= safetyMarginMs, 'the whole margin is left before the expiry');
        }
      }
    }
  });

  it('simulated: a Raft leader whose clock runs (1 + ρ) faster, applying at the send instant, expires after the fence', () => {
    const rho = FENCE_MAX_DRIFT_RATIO;
    const ttlMs = 10_000;
    const sent = 5_000; // real time = holder clock, holder at the slowest allowed rate
    const fence = fenceDeadlineMonoMs({ sentAtMonoMs: sent, ttlMs, safetyMarginMs: 0 });
    // Leader clock advances (1 + ρ) per holder ms; it expires when ttl passed on it since `sent`.
    const expiryReal = sent + ttlMs / (1 + rho);
    assert.ok(fence < expiryReal, `${fence} < ${expiryReal}`);
  });

  it('refuses nonsense', () => {
    assert.throws(() => fenceDeadlineMonoMs({ sentAtMonoMs: 0, ttlMs: 0, safetyMarginMs: 0 }), RangeError);
    assert.throws(() => fenceDeadlineMonoMs({ sentAtMonoMs: 0, ttlMs: 1000, safetyMarginMs: -1 }), RangeError);
    assert.throws(() => fenceDeadlineMonoMs({ sentAtMonoMs: 0, ttlMs: 1000, safetyMarginMs: 0, maxDriftRatio: 1 }), RangeError);
  });

  it('warns when a renewal cycle does not fit before the fence deadline', () => {
    assert.equal(fenceTimingWarning(10_000, 2000, 3000, 1000), null);
    assert.match(fenceTimingWarning(6000, 2000, 3000, 1000) ?? '', /loop_wait \+ retry_timeout/);
    assert.match(fenceTimingWarning(1000, 100, 100, 2000) ?? '', /leaves no lease/);
  });
});

describe('agent monotonic ms → host CLOCK_MONOTONIC ns', () => {
  it('performance.now() and process.hrtime.bigint() are one clock: the converted "now" is never late and close (generous bound: the process may be descheduled between the two reads)', () => {
    const offset = measureMonoOffsetNs();
    for (let i = 0; i < 100; i++) {
      const converted = monoMsToHostNs(performance.now(), offset);
      const host = process.hrtime.bigint();
      const diffNs = Number(host - converted);
      assert.ok(diffNs >= 0, 'conversion must not put the deadline later');
      assert.ok(diffNs < 100_000_000, `off by ${diffNs} ns`);
    }
  });

  it('another process on the host reads the same CLOCK_MONOTONIC', async () => {
    const { execFileSync } = await import('node:child_process');
    const before = process.hrtime.bigint();
    const theirs = BigInt(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.hrtime.bigint()))'], { encoding: 'utf8' }));
    const after = process.hrtime.bigint();
    assert.ok(theirs > before && theirs < after, `${before} < ${theirs} < ${after}`);
  });
});
