import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyMergePatch } from '../../../src/agent/api/config-patch.js';
import { paddedVersion } from '../../../src/agent/api/metrics.js';
import { parseBool, parseBytes, parseSchedule, parseSeconds, postgresVersionToInt } from '../../../src/agent/api/units.js';

const NOW = Date.parse('2026-11-25T12:00:00Z');

describe('REST value parsing', () => {
  it('reads sizes in bytes or 1024-based units', () => {
    assert.equal(parseBytes('1048576'), 1048576);
    assert.equal(parseBytes('16kB'), 16384);
    assert.equal(parseBytes('10MB'), 10 * 1024 ** 2);
    assert.equal(parseBytes('1GB'), 1024 ** 3);
    assert.equal(parseBytes('1.5MB'), 1572864);
    assert.equal(parseBytes('10 mb'), 10 * 1024 ** 2);
    for (const bad of ['', 'MB', '-1', '10XB', '1e6']) assert.equal(parseBytes(bad), null, bad);
  });

  it('reads durations in seconds', () => {
    assert.equal(parseSeconds(30), 30);
    assert.equal(parseSeconds('30'), 30);
    assert.equal(parseSeconds('2min'), 120);
    assert.equal(parseSeconds('500ms'), 0.5);
    assert.equal(parseSeconds('soon'), null);
    assert.equal(parseSeconds(null), null);
  });

  it('reads booleans as Patroni does', () => {
    assert.equal(parseBool(true), true);
    assert.equal(parseBool('on'), true);
    assert.equal(parseBool('No'), false);
    assert.equal(parseBool('maybe'), null);
  });

  it('converts PostgreSQL versions to their integer form', () => {
    assert.equal(postgresVersionToInt('16.4'), 160004);
    assert.equal(postgresVersionToInt('9.6.24'), 90624);
    assert.equal(postgresVersionToInt('10.0'), 100000);
    assert.equal(postgresVersionToInt('150002'), 150002);
    assert.throws(() => postgresVersionToInt('9.6'), /major version format/);
    assert.throws(() => postgresVersionToInt('16'), /major version format/);
    assert.throws(() => postgresVersionToInt('16.a'), /^Error: Invalid PostgreSQL version format/);
  });

  it('parses schedules: zone required (400), past or garbage refused (422)', () => {
    assert.deepEqual(parseSchedule('2030-01-01T00:00:00Z', 'restart', NOW), { ok: true, text: '2030-01-01T00:00:00Z', ms: Date.parse('2030-01-01T00:00:00Z') });
    const withOffset = parseSchedule('2030-01-01 02:30+0230', 'restart', NOW);
    assert.ok(withOffset.ok && withOffset.ms === Date.parse('2030-01-01T00:00:00Z'));
    const fraction = parseSchedule('2030-01-01T00:00:00.250-01:00', 'restart', NOW);
    assert.ok(fraction.ok && fraction.ms === Date.parse('2030-01-01T01:00:00.250Z'));
    assert.deepEqual(parseSchedule('2030-01-01T00:00', 'switchover', NOW), {
      ok: false,
      status: 400,
      text: 'Timezone information is mandatory for the scheduled switchover',
    });
    assert.deepEqual(parseSchedule('2026-11-25T11:59:59Z', 'restart', NOW), { ok: false, status: 422, text: 'Cannot schedule restart in the past' });
    for (const bad of ['2030-02-31T00:00:00Z', '2030-13-01T00:00:00Z', 'next tuesday', 42]) {
      const result = parseSchedule(bad, 'restart', NOW);
      assert.ok(!result.ok && result.status === 422, String(bad));
    }
  });

  it('formats the version metric like Patroni (2.0.2 → 020002)', () => {
    assert.equal(paddedVersion('2.0.2'), '020002');
    assert.equal(paddedVersion('0.1.0'), '000100');
    assert.equal(paddedVersion('1.12.3-rc.1'), '011203');
  });
});

describe('PATCH /config merge', () => {
  it('merges objects recursively, deletes on null, replaces the rest, and says whether it changed', () => {
    const current = { ttl: 30, pause: true, postgresql: { parameters: { max_connections: 100, work_mem: '4MB' }, use_slots: true } };
    const { result, changed } = applyMergePatch(current, {
      ttl: 20,
      pause: null,
      postgresql: { parameters: { work_mem: null, shared_buffers: '1GB' } },
      slots: { s1: { type: 'physical', gone: null } },
    });
    assert.equal(changed, true);
    assert.deepEqual(result, {
      ttl: 20,
      postgresql: { parameters: { max_connections: 100, shared_buffers: '1GB' }, use_slots: true },
      slots: { s1: { type: 'physical' } },
    });
    assert.equal(current.ttl, 30, 'the input is not modified');
    assert.equal(applyMergePatch(current, { ttl: 30, missing: null }).changed, false);
  });
});
