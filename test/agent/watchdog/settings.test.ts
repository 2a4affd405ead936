import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseWatchdogMode, watchdogSettings, watchdogStartupError, watchdogTiming } from '../../../src/agent/watchdog/index.js';
import { parseConfig } from '../../../src/config/index.js';
import { settings } from './fixtures.js';

describe('watchdog timing', () => {
  it('sets the timeout to ttl - safety_margin and the slack to timeout - loop_wait (Patroni defaults: 25 s, 15 s)', () => {
    assert.deepEqual(watchdogTiming({ ttlSeconds: 30, loopWaitSeconds: 10, safetyMarginSeconds: 5 }), { timeoutSeconds: 25, slackSeconds: 15 });
    assert.deepEqual(watchdogTiming({ ttlSeconds: 10, loopWaitSeconds: 2, safetyMarginSeconds: 3 }), { timeoutSeconds: 7, slackSeconds: 5 });
  });

  it('uses ttl/2 when safety_margin is -1, rounded down', () => {
    assert.deepEqual(watchdogTiming({ ttlSeconds: 30, loopWaitSeconds: 10, safetyMarginSeconds: -1 }), { timeoutSeconds: 15, slackSeconds: 5 });
    assert.deepEqual(watchdogTiming({ ttlSeconds: 9, loopWaitSeconds: 2, safetyMarginSeconds: -1 }), { timeoutSeconds: 4, slackSeconds: 2 });
  });

  it('rounds a fractional timeout down, the safe direction', () => {
    assert.equal(watchdogTiming({ ttlSeconds: 10.5, loopWaitSeconds: 2, safetyMarginSeconds: 5 }).timeoutSeconds, 5);
  });

  it('reports negative slack when the leader could not feed it once per loop', () => {
    assert.equal(watchdogTiming({ ttlSeconds: 10, loopWaitSeconds: 8, safetyMarginSeconds: 5 }).slackSeconds, -3);
  });
});

describe('watchdog settings', () => {
  it("parses Patroni's mode aliases and disables on an unknown mode with a warning", () => {
    assert.equal(parseWatchdogMode(false).mode, 'off');
    assert.equal(parseWatchdogMode('Disabled').mode, 'off');
    assert.equal(parseWatchdogMode('auto').mode, 'automatic');
    assert.equal(parseWatchdogMode('require').mode, 'required');
    assert.equal(parseWatchdogMode(undefined).mode, 'automatic');
    assert.deepEqual(parseWatchdogMode('sometimes'), { mode: 'off', warning: 'Watchdog mode sometimes not recognized, disabling watchdog' });
  });

  it('builds settings from the loaded config section and the dynamic ttl/loop_wait', () => {
    const yaml = [
      'scope: s',
      'name: n1',
      'restapi: { listen: 127.0.0.1:8008, connect_address: 127.0.0.1:8008 }',
      'postgresql:',
      '  listen: 127.0.0.1:5432',
      '  connect_address: 127.0.0.1:5432',
      '  data_dir: /tmp/pg',
      '  authentication: { superuser: { username: p, password: x }, replication: { username: r, password: y } }',
      'watchdog: { mode: require, device: /tmp/wd.fifo, safety_margin: -1, driver: testing }',
    ].join('\n');
    const { config } = parseConfig(yaml, 'ha.yml');
    const s = watchdogSettings(config.watchdog, { ttl: 20, loop_wait: 5 });
    assert.deepEqual(s, { mode: 'required', device: '/tmp/wd.fifo', driver: 'testing', safetyMarginSeconds: -1, ttlSeconds: 20, loopWaitSeconds: 5 });
    assert.equal(watchdogTiming(s).timeoutSeconds, 10);
  });

  it('defaults to automatic on /dev/watchdog with a 5 s margin', () => {
    assert.deepEqual(watchdogSettings({}, { ttl: 30, loop_wait: 10 }), settings());
  });

  it('refuses to start when a watchdog is required on a platform without one', () => {
    assert.equal(watchdogStartupError(settings({ mode: 'required' }), 'darwin'), 'Configuration requires a watchdog, but watchdog is not supported on this platform.');
    assert.equal(watchdogStartupError(settings({ mode: 'required' }), 'linux'), null);
    assert.equal(watchdogStartupError(settings({ mode: 'automatic' }), 'darwin'), null);
  });
});
