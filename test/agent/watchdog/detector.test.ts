import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeWatchdogEvents, WatchdogStreamParser, type FakeWatchdogEvent } from '../../../src/agent/watchdog/index.js';

const open = (atMs: number): FakeWatchdogEvent => ({ type: 'open', atMs });
const ping = (atMs: number): FakeWatchdogEvent => ({ type: 'keepalive', atMs });
const timeout = (atMs: number, seconds: number): FakeWatchdogEvent => ({ type: 'timeout', atMs, seconds });
const close = (atMs: number, magic: boolean): FakeWatchdogEvent => ({ type: 'close', atMs, magic });

describe('would-have-fired detector', () => {
  it('does not fire while keepalives come within the timeout', () => {
    const events = [open(0), timeout(0, 25), ping(10_000), ping(20_000), ping(30_000), { type: 'magic' as const, atMs: 35_000 }, close(35_000, true)];
    const a = analyzeWatchdogEvents(events, { endMs: 120_000 });
    assert.equal(a.wouldHaveFired, false);
    assert.equal(a.keepalives, 3);
    assert.equal(a.magicCloses, 1);
    assert.equal(a.armed, false);
    assert.equal(a.maxGapMs, 10_000);
    assert.equal(a.timeoutSeconds, 25);
  });

  it('fires when a feeder pauses for longer than the timeout, at last ping + timeout', () => {
    const events = [open(0), timeout(0, 7), ping(2_000), ping(4_000), ping(30_000)];
    const a = analyzeWatchdogEvents(events, { endMs: 31_000 });
    assert.equal(a.wouldHaveFired, true);
    assert.equal(a.firstFireAtMs, 11_000);
    assert.deepEqual(a.gaps, [{ fromMs: 4_000, toMs: 30_000, gapMs: 26_000, timeoutSeconds: 7, firesAtMs: 11_000, ongoing: false }]);
  });

  it('counts an ongoing silence up to the end of observation (a frozen agent still holding the fd)', () => {
    const a = analyzeWatchdogEvents([open(0), timeout(0, 7), ping(2_000)], { endMs: 9_500 });
    assert.equal(a.wouldHaveFired, true);
    assert.equal(a.gaps[0]?.ongoing, true);
    assert.equal(analyzeWatchdogEvents([open(0), timeout(0, 7), ping(2_000)], { endMs: 8_500 }).wouldHaveFired, false);
  });

  it('keeps the timer running after a close without the magic character', () => {
    const a = analyzeWatchdogEvents([open(0), timeout(0, 5), ping(1_000), close(1_000, false)], { endMs: 10_000 });
    assert.equal(a.uncleanCloses, 1);
    assert.equal(a.armed, true);
    assert.equal(a.wouldHaveFired, true);
  });

  it('is satisfied by a new opener feeding in time after an unclean close', () => {
    const a = analyzeWatchdogEvents([open(0), timeout(0, 5), close(1_000, false), open(4_000), ping(8_000), close(9_000, true)], { endMs: 60_000 });
    assert.equal(a.wouldHaveFired, false);
    assert.equal(a.opens, 2);
  });

  it('uses the driver default (60 s) before a timeout is set, or a forced timeout', () => {
    assert.equal(analyzeWatchdogEvents([open(0)], { endMs: 59_000 }).wouldHaveFired, false);
    assert.equal(analyzeWatchdogEvents([open(0)], { endMs: 61_000 }).wouldHaveFired, true);
    assert.equal(analyzeWatchdogEvents([open(0), timeout(0, 60)], { endMs: 10_000, timeoutSeconds: 5 }).wouldHaveFired, true);
  });
});

describe('fake device stream parser', () => {
  it("reads keepalive bytes, Patroni's Ctimeout records and the magic character", () => {
    const p = new WatchdogStreamParser();
    const events = [...p.feed(Buffer.from('Ctimeout=2'), 1), ...p.feed(Buffer.from('5\n11\0'), 2), ...p.feed(Buffer.from('V'), 3)];
    assert.deepEqual(events, [
      { type: 'timeout', atMs: 2, seconds: 25 },
      { type: 'keepalive', atMs: 2 },
      { type: 'keepalive', atMs: 2 },
      { type: 'keepalive', atMs: 2 },
      { type: 'magic', atMs: 3 },
    ]);
    assert.equal(p.lastByteWasMagic, true);
    p.feed(Buffer.from('1'), 4);
    assert.equal(p.lastByteWasMagic, false, "a write after 'V' cancels the magic close");
  });
});
