// What a member publishes about its fence and watchdog (issue 9): one short word each, so
// `hactl list -e` can show every member's protection from the DCS alone.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../../src/config/index.js';
import type { FenceStatusBody } from '../../../src/agent/fence/index.js';
import type { WatchdogStatus } from '../../../src/agent/watchdog/index.js';
import { fenceSummary, memberData, watchdogSummary } from '../../../src/agent/ha/member.js';
import { primary, replica } from './fixtures.js';

const fenceOn: FenceStatusBody = {
  mode: 'on',
  running: true,
  pid: 4242,
  armed: false,
  deadline_remaining_ms: null,
  safety_margin_ms: 1000,
  restarts: 0,
  last_fenced: null,
};

const watchdogIdle: WatchdogStatus = {
  mode: 'automatic',
  device: '/dev/watchdog',
  driver: 'default',
  active: false,
  timeoutSeconds: null,
  configuredTimeoutSeconds: 25,
  slackSeconds: 5,
  lastKeepaliveAgeSeconds: null,
  identity: null,
  healthy: true,
  lastError: null,
};

describe('member key: fence and watchdog words', () => {
  it('says how long an armed fence had left when the key was written, never below zero', () => {
    assert.equal(fenceSummary({ ...fenceOn, armed: true, deadline_remaining_ms: 4249 }), 'armed 4.2s');
    assert.equal(fenceSummary({ ...fenceOn, armed: true, deadline_remaining_ms: -30 }), 'armed 0.0s');
  });

  it('names the fence states an operator must act on before the quiet ones', () => {
    const fenced = { at: '2026-11-25T12:00:00Z', reason: 'lease expired', late_by_ms: 3, postmaster_pid: 77 };
    assert.equal(fenceSummary({ ...fenceOn, mode: 'off', running: false }), 'off');
    assert.equal(fenceSummary({ ...fenceOn, running: false, last_fenced: fenced }), 'fenced');
    assert.equal(fenceSummary({ ...fenceOn, running: false, pid: null }), 'dead');
    assert.equal(fenceSummary({ ...fenceOn, disabled_reason: 'paused' }), 'paused');
    assert.equal(fenceSummary(fenceOn), 'on');
  });

  it('gives the watchdog as off, failed, active with its timeout, or idle', () => {
    assert.equal(watchdogSummary({ ...watchdogIdle, mode: 'off' }), 'off');
    assert.equal(watchdogSummary({ ...watchdogIdle, mode: 'required', healthy: false }), 'failed');
    assert.equal(watchdogSummary({ ...watchdogIdle, active: true, timeoutSeconds: 20 }), 'active 20s');
    assert.equal(watchdogSummary({ ...watchdogIdle, active: true }), 'active 25s', 'no ioctl: the configured timeout');
    assert.equal(watchdogSummary(watchdogIdle), 'idle');
  });

  it('publishes both in the member data when the agent has them, and neither when it has not', () => {
    const example = readFileSync(fileURLToPath(new URL('../../../examples/ha.yml', import.meta.url)), 'utf8');
    const { config } = parseConfig(example, 'ha.yml');
    const obs = { state: primary(), server: null, pendingRestartSettings: [] };
    const data = memberData(config, obs, null, { version: 'test', paused: false, fence: { ...fenceOn, armed: true, deadline_remaining_ms: 8000 }, watchdog: watchdogIdle });
    assert.deepEqual([data.fence, data.watchdog], ['armed 8.0s', 'idle']);
    const without = memberData(config, obs, null, { version: 'test', paused: false });
    assert.equal('fence' in without || 'watchdog' in without, false);
  });
});

describe('member key: position of a member that is not running', () => {
  it('reports where a stopped (or diverged, not started) member stopped, so its lag stays visible', () => {
    const example = readFileSync(fileURLToPath(new URL('../../../examples/ha.yml', import.meta.url)), 'utf8');
    const { config } = parseConfig(example, 'ha.yml');
    const stopped = replica({ role: 'stopped', replayedLsn: null, receivedLsn: null, writeLsn: null });
    const data = memberData(config, { state: stopped, server: null, pendingRestartSettings: [], stoppedAtLsn: 0x5000100n }, null, { version: 'test', paused: false });
    assert.equal(data.xlogLocation, 0x5000100n);
    const running = memberData(config, { state: replica({ replayedLsn: 0x6000000n }), server: null, pendingRestartSettings: [], stoppedAtLsn: 0x5000100n }, null, { version: 'test', paused: false });
    assert.equal(running.xlogLocation, 0x6000000n, 'a running replica reports its replay position');
  });
});

describe('member key: state of a member whose postmaster died', () => {
  it('is crashed, and stopped in pause (as Patroni publishes it there)', () => {
    const example = readFileSync(fileURLToPath(new URL('../../../examples/ha.yml', import.meta.url)), 'utf8');
    const { config } = parseConfig(example, 'ha.yml');
    const obs = { state: replica({ role: 'crashed', replayedLsn: null, receivedLsn: null, writeLsn: null }), server: null, pendingRestartSettings: [] };
    assert.equal(memberData(config, obs, null, { version: 'test', paused: false }).state, 'crashed');
    assert.equal(memberData(config, obs, null, { version: 'test', paused: true }).state, 'stopped');
    assert.equal(memberData(config, { ...obs, state: replica() }, null, { version: 'test', paused: true }).state, 'running', 'a running replica is running in pause too');
  });
});
