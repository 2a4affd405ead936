// The real ioctl through koffi, on real file descriptors. There is no /dev/watchdog on this machine
// kind, so the watchdog requests are checked on /dev/null (a character device that answers ENOTTY).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { IoctlError, loadKoffiIoctl, Watchdog, WDIOC, type Ioctl } from '../../../src/agent/watchdog/index.js';
import { captureLog, scratchDir, settings } from './fixtures.js';

const FIONREAD = 0x541b;

async function realIoctl(): Promise<Ioctl> {
  const load = await loadKoffiIoctl();
  assert.ok(load.ok, load.ok ? '' : load.error);
  return load.ioctl;
}

describe('koffi ioctl', () => {
  it('answers WDIOC_SETTIMEOUT on /dev/null with ENOTTY instead of crashing', async () => {
    const ioctl = await realIoctl();
    const fd = fs.openSync('/dev/null', fs.constants.O_WRONLY);
    try {
      const arg = Buffer.alloc(4);
      arg.writeInt32LE(25);
      assert.throws(() => ioctl(fd, WDIOC.SETTIMEOUT, arg), (err: Error) => err instanceof IoctlError && err.code === 'ENOTTY' && err.errno === 25 && err.request === 'WDIOC_SETTIMEOUT');
      assert.throws(() => ioctl(fd, WDIOC.GETSUPPORT, Buffer.alloc(40)), /WDIOC_GETSUPPORT failed: ENOTTY/);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('writes results back into the buffer (FIONREAD on a 1234-byte file)', async () => {
    const ioctl = await realIoctl();
    const file = path.join(scratchDir(), 'data');
    fs.writeFileSync(file, Buffer.alloc(1234));
    const fd = fs.openSync(file, 'r');
    try {
      const arg = Buffer.alloc(4);
      ioctl(fd, FIONREAD, arg);
      assert.equal(arg.readInt32LE(0), 1234);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('reports a library that cannot be loaded as a value, not a crash', async () => {
    const load = await loadKoffiIoctl('libdoes-not-exist.so.9');
    assert.equal(load.ok, false);
    assert.match(load.ok ? '' : load.error, /^koffi could not be loaded: /);
  });

  it('lets the controller run on a character device that is not a watchdog: automatic warns, required refuses', async () => {
    const log = captureLog();
    const auto = new Watchdog(settings({ device: '/dev/null' }), { logger: log });
    const a = await auto.activate();
    assert.equal(a.ok && a.running, true);
    assert.match(log.at('warn').join('\n'), /WDIOC_SETTIMEOUT failed: ENOTTY/);
    auto.keepalive();
    auto.disable();

    const required = new Watchdog(settings({ device: '/dev/null', mode: 'required' }), { logger: captureLog() });
    const r = await required.activate();
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /a safe watchdog timeout 25 could not be configured\. Watchdog timeout is unknown \(.*ENOTTY\)/);
    assert.equal(required.isRunning, false);
  });
});
