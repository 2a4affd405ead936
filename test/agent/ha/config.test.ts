import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dynamicConfigSchema, parseConfig, reportDynamicKeys } from '../../../src/config/index.js';
import { haConfigFrom } from '../../../src/agent/ha/index.js';
import { configData } from '../../../src/agent/ha/long-actions.js';

const example = readFileSync(fileURLToPath(new URL('../../../examples/ha.yml', import.meta.url)), 'utf8');

describe('HA settings', () => {
  it('takes timing from the dynamic config in ms and names from the local file', () => {
    const { config } = parseConfig(example, 'ha.yml');
    const dynamic = dynamicConfigSchema.parse({ ttl: 10, loop_wait: 2, retry_timeout: 3, pause: true, postgresql: { use_pg_rewind: true } });
    const ha = haConfigFrom(config, dynamic);
    assert.equal(ha.name, config.name);
    assert.deepEqual([ha.ttlMs, ha.loopWaitMs, ha.retryTimeoutMs], [10_000, 2_000, 3_000]);
    assert.equal(ha.maximumLagOnFailoverBytes, 1_048_576n);
    assert.equal(ha.primaryStartTimeoutMs, 300_000);
    assert.equal(ha.pause, true);
    assert.equal(ha.usePgRewind, true, 'the dynamic use_pg_rewind wins');
  });

  it("reads a replica method's no_leader as Patroni does (Python's bool(): its harness writes no_leader: '1')", () => {
    const { config } = parseConfig(example, 'ha.yml');
    const dynamic = dynamicConfigSchema.parse({});
    const withMethod = (section: Record<string, unknown>) =>
      haConfigFrom({ ...config, postgresql: { ...config.postgresql, create_replica_methods: ['restore', 'basebackup'], restore: { command: 'restore', ...section } } as typeof config.postgresql }, dynamic)
        .canCloneWithoutLeader;
    assert.equal(withMethod({ no_leader: '1' }), true);
    assert.equal(withMethod({ no_leader: true }), true);
    assert.equal(withMethod({ no_master: 1 }), true, 'the older name');
    assert.equal(withMethod({ no_leader: false }), false);
    assert.equal(withMethod({}), false);
    assert.equal(haConfigFrom(config, dynamic).canCloneWithoutLeader, false, 'basebackup needs a leader');
  });

  it('reads primary_race_backoff in seconds (0 when absent), refuses a negative one, and reports it as implemented', () => {
    const { config } = parseConfig(example, 'ha.yml');
    const backoff = (d: Record<string, unknown>) => haConfigFrom(config, dynamicConfigSchema.parse(d)).primaryRaceBackoffMs;
    assert.equal(backoff({}), 0);
    assert.equal(backoff({ primary_race_backoff: 6 }), 6_000);
    assert.equal(backoff({ primary_race_backoff: '6' }), 6_000, 'a string number, as PATCH bodies and env values carry');
    assert.equal(dynamicConfigSchema.safeParse({ primary_race_backoff: -1 }).success, false);
    assert.equal(dynamicConfigSchema.safeParse({ primary_race_backoff: 'soon' }).success, false);
    assert.deepEqual(reportDynamicKeys({ primary_race_backoff: 6 }), [], 'no longer an unknown key');
    assert.equal('primary_race_backoff' in configData(config), false, 'no default written to the config key');
  });

  it("reads Patroni's older master_start_timeout / master_stop_timeout only when the new name is absent", () => {
    const { config } = parseConfig(example, 'ha.yml');
    const start = (d: Record<string, unknown>) => haConfigFrom(config, dynamicConfigSchema.parse(d)).primaryStartTimeoutMs;
    assert.equal(start({ master_start_timeout: 0 }), 0);
    assert.equal(start({ master_start_timeout: 0, primary_start_timeout: 20 }), 20_000);
    assert.equal(start({}), 300_000);
    const stop = (d: Record<string, unknown>) => haConfigFrom(config, dynamicConfigSchema.parse(d)).primaryStopBoundMs;
    assert.equal(stop({ synchronous_mode: true, master_stop_timeout: 15 }), 15_000);
    assert.equal(stop({ synchronous_mode: true, master_stop_timeout: 15, primary_stop_timeout: 0 }), null, 'the new name, 0, wins: no bound');
  });

  it('the config key written at bootstrap holds no start/stop timeout default, so a later PATCH of master_start_timeout counts (recovery feature, scenario 2)', () => {
    const { config } = parseConfig(example, 'ha.yml');
    const data = configData(config);
    assert.equal('primary_start_timeout' in data, false);
    assert.equal('primary_stop_timeout' in data, false);
    assert.equal(haConfigFrom(config, dynamicConfigSchema.parse({ ...data, master_start_timeout: 0 })).primaryStartTimeoutMs, 0);
  });

  it('bounds a primary stop by primary_stop_timeout only in synchronous mode, as Patroni', () => {
    const { config } = parseConfig(example, 'ha.yml');
    const stop = (d: Record<string, unknown>) => haConfigFrom(config, dynamicConfigSchema.parse(d)).primaryStopBoundMs;
    assert.equal(stop({ primary_stop_timeout: 30 }), null, 'asynchronous replication: no bound, a primary that does not stop keeps its key');
    assert.equal(stop({ primary_stop_timeout: 30, synchronous_mode: true }), 30_000);
    assert.equal(stop({ primary_stop_timeout: 30, synchronous_mode: 'quorum' }), 30_000);
    assert.equal(stop({ synchronous_mode: true }), null, 'the default 0 means no bound');
  });
});
