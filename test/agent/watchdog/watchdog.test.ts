import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  EmulatedWatchdogIoctl,
  FakeWatchdogReader,
  LinuxWatchdogDevice,
  Watchdog,
  WDIOC,
  WDIOF,
  WatchdogError,
  type EmulatedIoctlOptions,
  type IoctlLoad,
  type WatchdogSettings,
} from '../../../src/agent/watchdog/index.js';
import { captureLog, fifoIn, scratchDir, settings, StepClock } from './fixtures.js';

/** A controller on a FIFO with an emulated driver; the reader is polled by hand. */
function rig(overrides: Partial<WatchdogSettings> = {}, driver: EmulatedIoctlOptions = {}, load?: IoctlLoad) {
  const dir = scratchDir();
  const fifo = fifoIn(dir);
  const clock = new StepClock();
  const log = captureLog();
  const fake = new EmulatedWatchdogIoctl({ reportTimeoutToFd: true, ...driver });
  const reader = new FakeWatchdogReader({ path: fifo, pollMs: 3_600_000, nowMs: clock.nowMs });
  let loads = 0;
  const watchdog = new Watchdog(settings({ device: fifo, ...overrides }), {
    logger: log,
    clock,
    loadIoctl: async () => {
      loads++;
      return load ?? { ok: true, ioctl: fake.ioctl };
    },
  });
  return { dir, fifo, clock, log, fake, reader, watchdog, loads: () => loads };
}

describe('watchdog controller', () => {
  it('activates with ttl - safety_margin and logs it the way Patroni does', async () => {
    const { watchdog, fake, log, fifo, reader } = rig();
    const result = await watchdog.activate();
    assert.deepEqual(result, { ok: true, running: true, warning: null });
    assert.equal(fake.callsOf(WDIOC.SETTIMEOUT)[0]?.value, 25);
    assert.deepEqual(log.at('info'), [`Watchdog test harness at ${fifo} activated with 25 second timeout, timing slack 15 seconds`]);
    assert.equal(watchdog.isRunning, true);
    watchdog.disable();
    reader.stop();
    assert.equal(reader.analyze().timeoutSeconds, 25);
  });

  it('uses ttl/2 with safety_margin -1', async () => {
    const { watchdog, fake } = rig({ safetyMarginSeconds: -1, ttlSeconds: 20, loopWaitSeconds: 5 });
    await watchdog.activate();
    assert.equal(fake.callsOf(WDIOC.SETTIMEOUT)[0]?.value, 10);
    assert.equal(watchdog.status().timeoutSeconds, 10);
    watchdog.disable();
  });

  it('feeds the device on each keepalive and closes it with the magic character on disable', async () => {
    const { watchdog, reader, clock } = rig({ ttlSeconds: 10, loopWaitSeconds: 2, safetyMarginSeconds: 3 });
    await watchdog.activate();
    for (let i = 0; i < 4; i++) {
      clock.advance(2_000);
      watchdog.keepalive();
      reader.poll();
    }
    assert.equal(watchdog.status().lastKeepaliveAgeSeconds, 0);
    clock.advance(1_500);
    assert.equal(watchdog.status().lastKeepaliveAgeSeconds, 1.5);
    watchdog.disable();
    reader.stop();
    const a = reader.analyze();
    assert.equal(a.keepalives, 4);
    assert.equal(a.magicCloses, 1);
    assert.equal(a.timeoutSeconds, 7);
    assert.equal(a.wouldHaveFired, false);
    assert.equal(watchdog.isRunning, false);
    watchdog.keepalive();
    assert.equal(watchdog.status().active, false, 'keepalive after disable does not reopen');
  });

  it('reports its state for GET /patroni', async () => {
    const { watchdog, clock, fifo } = rig();
    assert.deepEqual(watchdog.status(), {
      mode: 'automatic',
      device: fifo,
      driver: 'default',
      active: false,
      timeoutSeconds: null,
      configuredTimeoutSeconds: 25,
      slackSeconds: 15,
      lastKeepaliveAgeSeconds: null,
      identity: null,
      healthy: true,
      lastError: null,
    });
    await watchdog.activate();
    clock.advance(250);
    const s = watchdog.status();
    assert.equal(s.active, true);
    assert.equal(s.timeoutSeconds, 25);
    assert.equal(s.lastKeepaliveAgeSeconds, 0.25);
    assert.equal(s.identity, `Watchdog test harness at ${fifo}`);
    watchdog.disable();
  });

  it('required mode refuses leadership when the device is missing', async () => {
    const { watchdog, dir, log } = rig({ mode: 'required' });
    const missing = path.join(dir, 'no-such-watchdog');
    watchdog.reload(settings({ mode: 'required', device: missing }));
    const result = await watchdog.activate();
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /^Watchdog activation failed: Could not activate Linux watchdog device at .*no-such-watchdog: Can't open watchdog device: ENOENT/);
    assert.match(log.at('warn')[0] ?? '', /^Could not activate Linux watchdog device at .*: Can't open watchdog device: ENOENT/);
    assert.deepEqual(log.at('error'), ['Configuration requires watchdog, but watchdog could not be activated']);
    assert.equal(watchdog.isRunning, false);
    assert.equal(watchdog.isHealthy, false, 'published as watchdog_failed so peers skip this member');
  });

  it('automatic mode carries on without a watchdog and warns when the device is missing', async () => {
    const { watchdog, dir, log } = rig();
    watchdog.reload(settings({ device: path.join(dir, 'no-such-watchdog') }));
    const result = await watchdog.activate();
    assert.equal(result.ok, true);
    assert.equal(result.ok && result.running, false);
    assert.match(result.ok ? (result.warning ?? '') : '', /Can't open watchdog device: ENOENT/);
    assert.equal(log.at('warn').length, 1);
    assert.deepEqual(log.at('error'), []);
    assert.equal(watchdog.isHealthy, true);
    watchdog.keepalive();
    watchdog.disable();
  });

  it('required mode refuses when the driver ignores the timeout and keeps a longer one, and closes the device', async () => {
    const { watchdog, reader, log } = rig({ mode: 'required' }, { options: WDIOF.MAGICCLOSE, defaultTimeoutSeconds: 60 });
    const result = await watchdog.activate();
    assert.deepEqual(result, {
      ok: false,
      reason: 'Watchdog activation failed: Configuration requires watchdog, but a safe watchdog timeout 25 could not be configured. Watchdog timeout is 60.',
    });
    assert.deepEqual(log.at('error'), ['Configuration requires watchdog, but a safe watchdog timeout 25 could not be configured. Watchdog timeout is 60.']);
    reader.stop();
    assert.equal(reader.analyze().magicCloses, 1, 'a refused watchdog must not reset the host');
    assert.equal(watchdog.isRunning, false);
  });

  it('automatic mode runs with a longer driver timeout but warns that it is unsafe', async () => {
    const { watchdog, log } = rig({}, { options: WDIOF.MAGICCLOSE, defaultTimeoutSeconds: 60 });
    const result = await watchdog.activate();
    assert.deepEqual(result, { ok: true, running: true, warning: null });
    assert.ok(log.at('warn').includes('Watchdog timeout 60 seconds does not ensure safe termination within 25 seconds'), log.text());
    watchdog.disable();
  });

  it('handles ENOTTY from the timeout ioctls: automatic runs with a warning, required refuses', async () => {
    const failures = { [WDIOC.SETTIMEOUT]: 'ENOTTY', [WDIOC.GETTIMEOUT]: 'ENOTTY', [WDIOC.GETSUPPORT]: 'ENOTTY' };
    const auto = rig({}, { failures });
    const a = await auto.watchdog.activate();
    assert.equal(a.ok && a.running, true);
    assert.match(auto.log.at('warn').join('\n'), /Could not set the watchdog timeout to 25 seconds: Could not set watchdog timeout: WDIOC_SETTIMEOUT failed: ENOTTY/);
    assert.match(auto.log.at('warn').join('\n'), /Watchdog timeout is unknown \(.*ENOTTY\): the driver's default may not ensure safe termination within 25 seconds/);
    auto.watchdog.disable();

    const required = rig({ mode: 'required' }, { failures });
    const r = await required.watchdog.activate();
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /a safe watchdog timeout 25 could not be configured\. Watchdog timeout is unknown \(.*ENOTTY\)/);
  });

  it("without koffi it keeps the driver's default timeout with a warning (automatic) or refuses (required)", async () => {
    const load: IoctlLoad = { ok: false, error: 'koffi could not be loaded: test' };
    const auto = rig({}, {}, load);
    auto.watchdog.reload(settings({ device: auto.fifo }));
    const a = await auto.watchdog.activate();
    assert.equal(a.ok && a.running, true);
    assert.match(auto.log.at('warn')[0] ?? '', /^Watchdog ioctls unavailable \(koffi could not be loaded: test\)/);
    auto.watchdog.disable();
    await auto.watchdog.activate();
    assert.equal(auto.loads(), 1, 'loaded once');
    auto.watchdog.disable();

    const required = rig({ mode: 'required' }, {}, load);
    const r = await required.watchdog.activate();
    assert.equal(r.ok, false);
  });

  it('does not open the device or load the ioctl in mode off', async () => {
    const { watchdog, reader, loads } = rig({ mode: 'off' });
    assert.deepEqual(await watchdog.activate(), { ok: true, running: false, warning: null });
    watchdog.keepalive();
    reader.stop();
    assert.equal(reader.events.length, 0);
    assert.equal(loads(), 0);
  });

  it('refuses when timeout - loop_wait is negative, naming the real rule (Patroni #2040)', async () => {
    const { watchdog, log } = rig({ mode: 'required', ttlSeconds: 10, loopWaitSeconds: 8, safetyMarginSeconds: 5 });
    assert.equal(watchdog.isHealthy, false);
    const r = await watchdog.activate();
    assert.equal(r.ok, false);
    assert.equal(log.at('warn')[0], 'Watchdog not supported because its timeout of 5 seconds (ttl 10 - safety_margin 5) is less than loop_wait 8');
  });

  it('disables a watchdog whose fixed timeout is shorter than loop_wait', async () => {
    const { watchdog, log } = rig({}, { options: WDIOF.MAGICCLOSE, defaultTimeoutSeconds: 5 });
    const r = await watchdog.activate();
    assert.equal(r.ok && r.running, false);
    assert.deepEqual(log.at('error'), ['loop_wait of 10 seconds is too long for watchdog 5 second timeout']);
    assert.ok(log.at('info').includes('Disabling watchdog due to unsafe timeout.'));
    assert.equal(watchdog.isRunning, false);
  });

  it('applies a changed ttl at the next keepalive, after the key renewal', async () => {
    const { watchdog, fake, log, fifo } = rig();
    await watchdog.activate();
    watchdog.reload(settings({ device: fifo, ttlSeconds: 20 }));
    assert.equal(fake.timeoutSeconds, 25, 'not yet');
    watchdog.keepalive();
    assert.equal(fake.timeoutSeconds, 15);
    assert.ok(log.at('info').includes(`Watchdog test harness at ${fifo} updated with 15 second timeout, timing slack 5 seconds`), log.text());
    watchdog.disable();
  });

  it('turns off at once when reloaded with mode off', async () => {
    const { watchdog, reader, fifo } = rig();
    await watchdog.activate();
    watchdog.reload(settings({ device: fifo, mode: 'off' }));
    assert.equal(watchdog.isRunning, false);
    reader.stop();
    assert.equal(reader.analyze().magicCloses, 1);
  });

  it('warns when the device cannot be disarmed and feeds it once more on disable', async () => {
    const { watchdog, log, reader } = rig({}, { options: WDIOF.SETTIMEOUT });
    await watchdog.activate();
    reader.poll();
    watchdog.disable();
    reader.stop();
    assert.ok(log.at('warn').includes("Watchdog implementation can't be disabled. System will reboot after 25 seconds when watchdog times out."), log.text());
    assert.equal(reader.count('keepalive'), 1);
  });

  it('logs a failed keepalive and keeps going', async () => {
    const fifo = fifoIn(scratchDir());
    const log = captureLog();
    let failing = false;
    class FlakyDevice extends LinuxWatchdogDevice {
      override keepalive(): void {
        if (failing) throw new WatchdogError('Could not send watchdog keepalive: EAGAIN: resource temporarily unavailable, write');
        super.keepalive();
      }
    }
    const watchdog = new Watchdog(settings({ device: fifo, driver: 'testing' }), {
      logger: log,
      createDevice: (s) => new FlakyDevice({ path: s.device, ioctl: new EmulatedWatchdogIoctl().ioctl }),
    });
    await watchdog.activate();
    failing = true;
    watchdog.keepalive();
    assert.deepEqual(log.at('error'), ['Error while sending keepalive: Could not send watchdog keepalive: EAGAIN: resource temporarily unavailable, write']);
    assert.match(watchdog.status().lastError ?? '', /EAGAIN/);
    assert.equal(watchdog.isRunning, true);
    failing = false;
    watchdog.keepalive();
    watchdog.disable();
  });

  it('moves to a new device path at the next keepalive, disarming the old one first', async () => {
    const { watchdog, reader, dir, fake } = rig();
    await watchdog.activate();
    const second = fifoIn(dir, 'second.fifo');
    const secondReader = new FakeWatchdogReader({ path: second, pollMs: 3_600_000 });
    watchdog.reload(settings({ device: second }));
    watchdog.keepalive();
    assert.equal(watchdog.status().device, second);
    assert.equal(watchdog.isRunning, true);
    watchdog.disable();
    reader.stop();
    secondReader.stop();
    assert.equal(reader.analyze().magicCloses, 1);
    assert.equal(secondReader.analyze().magicCloses, 1);
    assert.equal(fake.callsOf(WDIOC.SETTIMEOUT).length, 2);
  });
});
