import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  EmulatedWatchdogIoctl,
  FakeWatchdogReader,
  IoctlError,
  LinuxWatchdogDevice,
  WatchdogError,
  WDIOC,
  WDIOF,
} from '../../../src/agent/watchdog/index.js';
import { fifoIn, scratchDir, StepClock } from './fixtures.js';

function readerOn(fifo: string, clock: StepClock): FakeWatchdogReader {
  // Polled by hand: the test decides when time passes.
  return new FakeWatchdogReader({ path: fifo, pollMs: 3_600_000, nowMs: clock.nowMs });
}

describe('Linux watchdog device on a FIFO (test driver)', () => {
  it('delivers every keepalive to the reader and ends with a magic close', () => {
    const fifo = fifoIn(scratchDir());
    const clock = new StepClock();
    const reader = readerOn(fifo, clock);
    const device = new LinuxWatchdogDevice({ path: fifo, ioctl: null });
    device.open();
    for (let i = 0; i < 5; i++) {
      device.keepalive();
      clock.advance(1_000);
      reader.poll();
    }
    device.close(true);
    clock.advance(10);
    reader.poll();
    reader.stop();
    assert.equal(reader.count('open'), 1);
    assert.equal(reader.count('keepalive'), 5);
    assert.deepEqual(reader.events.at(-1), { type: 'close', atMs: clock.now, magic: true });
    assert.equal(reader.analyze({ timeoutSeconds: 2 }).wouldHaveFired, false);
  });

  it('reports a close without the magic character as unclean (the timer keeps running)', () => {
    const fifo = fifoIn(scratchDir());
    const clock = new StepClock();
    const reader = readerOn(fifo, clock);
    const device = new LinuxWatchdogDevice({ path: fifo, ioctl: null });
    device.open();
    device.keepalive();
    reader.poll();
    device.close(false);
    reader.poll();
    clock.advance(3_000);
    reader.stop();
    assert.deepEqual(reader.events.at(-1), { type: 'close', atMs: clock.now - 3_000, magic: false });
    const a = reader.analyze({ timeoutSeconds: 2 });
    assert.equal(a.armed, true);
    assert.equal(a.wouldHaveFired, true);
  });

  it('does not block on open when no reader has the FIFO open, and never writes on open', () => {
    const fifo = fifoIn(scratchDir());
    const device = new LinuxWatchdogDevice({ path: fifo, ioctl: null });
    device.open();
    assert.equal(device.isOpen, true);
    device.close(true);
    assert.equal(device.isOpen, false);
  });

  it('fails a keepalive with EAGAIN when nobody drains the FIFO, instead of blocking the agent', () => {
    const fifo = fifoIn(scratchDir());
    const device = new LinuxWatchdogDevice({ path: fifo, ioctl: null });
    device.open();
    let error: unknown = null;
    for (let i = 0; i < 1_100_000 && !error; i++) {
      try {
        device.keepalive();
      } catch (err) {
        error = err;
      }
    }
    assert.ok(error instanceof WatchdogError, 'the pipe filled up');
    assert.match(error.message, /^Could not send watchdog keepalive: EAGAIN/);
    // The 'V' cannot get through either; the fd is closed all the same, and the caller hears why.
    assert.throws(() => device.close(true), /^WatchdogError: Could not close watchdog device with the magic character: EAGAIN/);
    assert.equal(device.isOpen, false);
  });

  it('appends to a regular file so every session is recorded', () => {
    const file = path.join(scratchDir(), 'watchdog.log');
    fs.writeFileSync(file, '');
    const device = new LinuxWatchdogDevice({ path: file, ioctl: null });
    for (let session = 0; session < 2; session++) {
      device.open();
      device.keepalive();
      device.keepalive();
      device.close(true);
    }
    assert.equal(fs.readFileSync(file, 'utf8'), '11V11V');
  });

  it("fails to open a missing device with Patroni's message and does not create it", () => {
    const missing = path.join(scratchDir(), 'watchdog');
    const device = new LinuxWatchdogDevice({ path: missing, ioctl: null });
    assert.throws(() => device.open(), (err: Error) => err instanceof WatchdogError && /^Can't open watchdog device: ENOENT: no such file or directory/.test(err.message));
    assert.equal(fs.existsSync(missing), false);
    assert.throws(() => device.keepalive(), /watchdog device is not open/);
  });

  it('describes itself like Patroni: identity, firmware, and the path when it is not /dev/watchdog', () => {
    const fifo = fifoIn(scratchDir());
    const fake = new EmulatedWatchdogIoctl({ identity: 'Software Watchdog', firmwareVersion: 3 });
    const device = new LinuxWatchdogDevice({ path: fifo, ioctl: fake.ioctl });
    assert.equal(device.describe(), `Linux watchdog device at ${fifo}`);
    device.open();
    assert.equal(device.describe(), `Software Watchdog (firmware 3) at ${fifo}`);
    device.close(true);
    assert.equal(new LinuxWatchdogDevice({ ioctl: null }).describe(), 'Linux watchdog device');
  });
});

describe('watchdog ioctls through an injected ioctl', () => {
  it('passes the timeout to WDIOC_SETTIMEOUT on the open fd and reads back what the driver chose', () => {
    const fifo = fifoIn(scratchDir());
    const fake = new EmulatedWatchdogIoctl({ maxTimeoutSeconds: 20 });
    const device = new LinuxWatchdogDevice({ path: fifo, ioctl: fake.ioctl });
    device.open();
    assert.equal(device.setTimeout(25), 20, 'clamped by the driver');
    assert.equal(device.getTimeout(), 20);
    const [set] = fake.callsOf(WDIOC.SETTIMEOUT);
    assert.equal(set?.value, 25);
    assert.equal(set?.fd, device.fileDescriptor);
    const support = device.getSupport();
    assert.equal(support.identity, 'Watchdog test harness');
    assert.equal(support.options & WDIOF.MAGICCLOSE, WDIOF.MAGICCLOSE);
    device.close(true);
  });

  it('turns ENOTTY into a WatchdogError naming the request and errno', () => {
    const fifo = fifoIn(scratchDir());
    const fake = new EmulatedWatchdogIoctl({ failures: { [WDIOC.SETTIMEOUT]: 'ENOTTY', [WDIOC.GETTIMEOUT]: 'ENOTTY' } });
    const device = new LinuxWatchdogDevice({ path: fifo, ioctl: fake.ioctl });
    device.open();
    assert.throws(
      () => device.setTimeout(25),
      (err: Error) => err instanceof WatchdogError && err.message === 'Could not set watchdog timeout: WDIOC_SETTIMEOUT failed: ENOTTY' && err.cause instanceof IoctlError && err.cause.code === 'ENOTTY',
    );
    assert.throws(() => device.getTimeout(), /WDIOC_GETTIMEOUT failed: ENOTTY/);
    device.keepalive();
    device.close(true);
  });

  it('says why when there is no ioctl at all', () => {
    const fifo = fifoIn(scratchDir());
    const device = new LinuxWatchdogDevice({ path: fifo, ioctl: null, ioctlUnavailable: 'koffi could not be loaded: nope' });
    device.open();
    assert.throws(() => device.setTimeout(25), /ioctl unavailable \(koffi could not be loaded: nope\)/);
    assert.throws(() => device.setTimeout(0), /Invalid watchdog timeout 0/);
    device.close(true);
  });

  it("writes Patroni's Ctimeout record into the stream for the testing driver", () => {
    const fifo = fifoIn(scratchDir());
    const clock = new StepClock();
    const reader = readerOn(fifo, clock);
    const device = new LinuxWatchdogDevice({ path: fifo, ioctl: new EmulatedWatchdogIoctl({ reportTimeoutToFd: true }).ioctl });
    device.open();
    device.setTimeout(7);
    device.keepalive();
    device.close(true);
    reader.stop();
    assert.deepEqual(
      reader.events.map((e) => e.type),
      ['open', 'timeout', 'keepalive', 'magic', 'close'],
    );
    assert.equal(reader.analyze().timeoutSeconds, 7);
  });
});
