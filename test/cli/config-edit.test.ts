import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyAssignments, colorDiff, configToYaml, InvalidSetting, mergePatch, parseAssignments, unifiedDiff } from '../../src/cli/config-edit.js';
import { makeColors } from '../../src/cli/colors.js';

const config = {
  ttl: 30,
  loop_wait: 10,
  maximum_lag_on_failover: 1048576,
  postgresql: { use_pg_rewind: true, parameters: { max_connections: 100, work_mem: '4MB' } },
};

describe('edit-config --set / --pg', () => {
  it('parses values as YAML and keeps dots in PostgreSQL parameter names', () => {
    assert.deepEqual(parseAssignments(['loop_wait=5', 'postgresql.use_pg_rewind=false', 'postgresql.parameters.auto_explain.log_min_duration=250ms'], ['max_connections=200', 'work_mem=null']), [
      { path: ['loop_wait'], value: 5 },
      { path: ['postgresql', 'use_pg_rewind'], value: false },
      { path: ['postgresql', 'parameters', 'auto_explain.log_min_duration'], value: '250ms' },
      { path: ['postgresql', 'parameters', 'max_connections'], value: 200 },
      { path: ['postgresql', 'parameters', 'work_mem'], value: null },
    ]);
  });

  it('refuses a setting without "=" in patronictl words', () => {
    assert.throws(() => parseAssignments(['loop_wait'], []), (e: Error) => e instanceof InvalidSetting && e.message === 'Invalid parameter setting loop_wait');
  });

  it('applies assignments without touching the original; null removes', () => {
    const next = applyAssignments(config, parseAssignments(['loop_wait=5', 'synchronous_mode=true'], ['work_mem=null', 'shared_buffers=1GB']));
    assert.equal(next.loop_wait, 5);
    assert.equal(next.synchronous_mode, true);
    assert.deepEqual((next.postgresql as { parameters: unknown }).parameters, { max_connections: 100, shared_buffers: '1GB' });
    assert.equal(config.loop_wait, 10);
    assert.equal(config.postgresql.parameters.work_mem, '4MB');
  });

  it('sends only the difference as a merge-patch, null for removed keys', () => {
    const next = applyAssignments(config, parseAssignments(['loop_wait=5'], ['work_mem=null']));
    assert.deepEqual(mergePatch(config, next), { loop_wait: 5, postgresql: { parameters: { work_mem: null } } });
    assert.deepEqual(mergePatch(config, structuredClone(config)), {});
  });
});

describe('edit-config diff', () => {
  it('is a unified diff of the sorted YAML, empty when nothing changed', () => {
    const before = configToYaml(config);
    const after = configToYaml(applyAssignments(config, parseAssignments(['loop_wait=5'], [])));
    assert.equal(unifiedDiff(before, before, 'a', 'b'), '');
    assert.equal(
      unifiedDiff(before, after, 'demo config', 'demo config'),
      [
        '--- demo config',
        '+++ demo config',
        '@@ -1,4 +1,4 @@',
        '-loop_wait: 10',
        '+loop_wait: 5',
        ' maximum_lag_on_failover: 1048576',
        ' postgresql:',
        '   parameters:',
      ].join('\n'),
    );
  });

  it('splits distant changes into separate hunks with correct line numbers', () => {
    const a = Array.from({ length: 20 }, (_, i) => `line${i + 1}`).join('\n');
    const b = a.replace('line2\n', 'line2x\n').replace('line18', 'line18x');
    const hunks = unifiedDiff(a, b, 'a', 'b').split('\n').filter((l) => l.startsWith('@@'));
    assert.deepEqual(hunks, ['@@ -1,5 +1,5 @@', '@@ -15,6 +15,6 @@']);
  });

  it('colours removed lines red and added lines green only when colours are on', () => {
    const diff = '--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y';
    assert.equal(colorDiff(diff, makeColors(false)), diff);
    const on = colorDiff(diff, makeColors(true));
    assert.ok(on.includes('\u001b[31m-x'));
    assert.ok(on.includes('\u001b[32m+y'));
  });
});
