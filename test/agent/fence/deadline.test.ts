// The fence deadline arithmetic (src/agent/fence/deadline.ts): always before the earliest moment
// any Raft leader could expire the renewed key, whatever the clock-rate drift within the bound.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  earliestExpiryOnHolderClockMs,
  FENCE_MAX_DRIFT_RATIO,
  fenceDeadlineMonoMs,
  fenceTimingWarning,
} from '../../../src/agent/fence/deadline.js';
import { holderClockNs, holderClockSource, holderMsToNs, holderNowMs } from '../../../src/agent/fence/holder-clock.js';
import { readFileSync } from 'node:fs';
import { DEFAULT_MAX_DRIFT_RATIO } from '../../../src/raft/kv/lease.js';
import { leaseDeadlineMonoMs } from '../../../src/dcs/lease.js';

/** The fence deadline for a renewal sent at `sentAtMonoMs` with `ttlMs`, as the agent computes it. */
const fenceFor = (sentAtMonoMs: number, ttlMs: number, safetyMarginMs: number) =>
  fenceDeadlineMonoMs({ leaseDeadlineMonoMs: leaseDeadlineMonoMs(sentAtMonoMs, ttlMs), safetyMarginMs });

describe('fence deadline', () => {
  it('uses the same clock-rate bound as the Raft KV lease rule', () => {
    assert.equal(FENCE_MAX_DRIFT_RATIO, DEFAULT_MAX_DRIFT_RATIO);
  });

  it('is the renewal send time + ttl·(1 − ρ) − safety margin', () => {
    assert.equal(fenceFor(1000, 10_000, 1000), 1000 + 9900 - 1000);
    assert.equal(fenceFor(0, 6000, 0), leaseDeadlineMonoMs(0, 6000));
    assert.equal(fenceDeadlineMonoMs({ leaseDeadlineMonoMs: 30_050, safetyMarginMs: 500 }), 29_550);
  });

  it('ends strictly before the earliest possible expiry on any node for every ttl, margin and send time', () => {
    for (const ttlMs of [1000, 6000, 10_000, 30_000, 120_000]) {
      for (const safetyMarginMs of [0, 1, 500, 1000]) {
        for (const sentAtMonoMs of [0, 1234.567, 9e9]) {
          const fence = fenceFor(sentAtMonoMs, ttlMs, safetyMarginMs);
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
    const fence = fenceFor(sent, ttlMs, 0);
    // Leader clock advances (1 + ρ) per holder ms; it expires when ttl passed on it since `sent`.
    const expiryReal = sent + ttlMs / (1 + rho);
    assert.ok(fence < expiryReal, `${fence} < ${expiryReal}`);
  });

  it('refuses nonsense', () => {
    assert.throws(() => fenceFor(0, 0, 0), RangeError);
    assert.throws(() => fenceDeadlineMonoMs({ leaseDeadlineMonoMs: 1000, safetyMarginMs: -1 }), RangeError);
    assert.throws(() => fenceDeadlineMonoMs({ leaseDeadlineMonoMs: Number.NaN, safetyMarginMs: 0 }), RangeError);
  });

  it('warns when a renewal cycle does not fit before the fence deadline', () => {
    assert.equal(fenceTimingWarning(10_000, 2000, 3000, 1000), null);
    assert.match(fenceTimingWarning(6000, 2000, 3000, 1000) ?? '', /loop_wait \+ retry_timeout/);
    assert.match(fenceTimingWarning(1000, 100, 100, 2000) ?? '', /leaves no lease/);
  });
});

describe('the holder clock (CLOCK_BOOTTIME)', () => {
  it('is boot time: /proc/uptime (the kernel\'s CLOCK_BOOTTIME, 10 ms steps) agrees within 50 ms, and koffi serves it here', () => {
    assert.equal(holderClockSource(), 'CLOCK_BOOTTIME');
    const before = holderClockNs();
    const uptimeNs = BigInt(Math.round(Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]) * 1e3)) * 1_000_000n;
    const after = holderClockNs();
    assert.ok(uptimeNs >= before - 50_000_000n && uptimeNs <= after + 50_000_000n, `uptime ${uptimeNs} vs holder ${before}..${after}`);
  });

  it('advances with the monotonic clock while nothing sleeps, and ms→ns conversion never makes a deadline later', async () => {
    // Each holder reading is bracketed by two monotonic ones, so descheduling between reads (a loaded
    // host) widens the bracket instead of failing the test; 1 ms slack for clock-rate adjustments.
    const m0a = performance.now();
    const h0 = holderNowMs();
    const m0b = performance.now();
    await new Promise((r) => setTimeout(r, 200));
    const m1a = performance.now();
    const h1 = holderNowMs();
    const m1b = performance.now();
    const dh = h1 - h0;
    assert.ok(dh >= m1a - m0b - 1 && dh <= m1b - m0a + 1, `holder advanced ${dh} ms; monotonic between ${m1a - m0b} and ${m1b - m0a} ms`);
    for (let i = 0; i < 100; i++) {
      const ms = holderNowMs();
      assert.ok(holderMsToNs(ms) <= BigInt(Math.ceil(ms * 1e6)), 'rounded down');
      assert.ok(holderClockNs() >= holderMsToNs(ms), 'a converted "now" is never in the future');
    }
  });

  it('another process on the host reads the same clock', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = "import('./src/agent/fence/holder-clock.ts').then((m) => process.stdout.write(String(m.holderClockNs())))";
    const before = holderClockNs();
    const theirs = BigInt(execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' }));
    const after = holderClockNs();
    assert.ok(theirs > before && theirs < after, `${before} < ${theirs} < ${after}`);
  });
});
